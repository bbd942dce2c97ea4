// The Linux check target's serial port (hosts/lin/lin_host.c), bound by Moddable's xsc `@` syntax.
function open() @ "lin_serial_open";
function write() @ "lin_serial_write";
function pending() @ "lin_serial_pending";
export { open, write, pending };
