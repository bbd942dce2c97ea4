# mk/install.mk — make install / make uninstall (docs/install.md). Included by the top-level Makefile;
# every name here starts with INSTALL_ or install-/uninstall.
#
#   make install                          system-wide under PREFIX=/usr/local (as root; DESTDIR honoured)
#   make install PREFIX=/usr              as a distribution package would (p11-kit's package directory)
#   make install-user                     for this user only: PREFIX=~/.local, p11-kit and systemd user config
#   make install PREFIX=$HOME/...         the same user layout (any PREFIX under $HOME)
#   make uninstall / uninstall-user       the same variables: removes exactly what the manifest lists
#
# The directories, and why (docs/install.md, "Where the files go"):
#   module       $(INSTALL_LIBDIR)/<multiarch>/pkcs11/libwim-pkcs11.so (p11-kit's module directory on Debian)
#   p11-kit      wim.module: /usr/share/p11-kit/modules for PREFIX=/usr, /etc/pkcs11/modules for any other
#                system PREFIX (p11-kit reads no other system directory), ~/.config/pkcs11/modules for a user
#   CLI          $(INSTALL_BINDIR)/wim, a launcher of the TypeScript tree in $(INSTALL_LIBDIR)/wim
#   systemd      wim-agent.socket and .service: $(INSTALL_LIBDIR)/systemd/user, or ~/.config/systemd/user
#   manifest     $(INSTALL_LIBDIR)/wim/MANIFEST: every file and directory install made

PREFIX ?= /usr/local
INSTALL_USER := $(if $(filter $(HOME)/%,$(PREFIX)),1,)
INSTALL_CONFIG_HOME := $(or $(XDG_CONFIG_HOME),$(HOME)/.config)
INSTALL_MULTIARCH := $(shell $(PKCS11_CC) -print-multiarch 2>/dev/null)
INSTALL_BINDIR ?= $(PREFIX)/bin
INSTALL_LIBDIR ?= $(PREFIX)/lib
INSTALL_MODULE_DIR ?= $(INSTALL_LIBDIR)/$(if $(INSTALL_MULTIARCH),$(INSTALL_MULTIARCH)/)pkcs11
INSTALL_TREE ?= $(INSTALL_LIBDIR)/wim
INSTALL_P11KIT_DIR ?= $(if $(INSTALL_USER),$(INSTALL_CONFIG_HOME)/pkcs11/modules,$(if $(filter /usr,$(PREFIX)),/usr/share/p11-kit/modules,/etc/pkcs11/modules))
INSTALL_UNIT_DIR ?= $(if $(INSTALL_USER),$(INSTALL_CONFIG_HOME)/systemd/user,$(INSTALL_LIBDIR)/systemd/user)
INSTALL_NODE ?= $(shell command -v node)

INSTALL_ENV = DESTDIR='$(DESTDIR)' BINDIR='$(INSTALL_BINDIR)' MODULE_DIR='$(INSTALL_MODULE_DIR)' \
  TREE='$(INSTALL_TREE)' P11KIT_DIR='$(INSTALL_P11KIT_DIR)' UNIT_DIR='$(INSTALL_UNIT_DIR)' NODE='$(INSTALL_NODE)'

.PHONY: install uninstall install-user uninstall-user
install: build
	@$(INSTALL_ENV) mk/install.sh install

uninstall:
	@$(INSTALL_ENV) mk/install.sh uninstall

install-user:
	@$(MAKE) --no-print-directory install PREFIX=$(HOME)/.local

uninstall-user:
	@$(MAKE) --no-print-directory uninstall PREFIX=$(HOME)/.local
