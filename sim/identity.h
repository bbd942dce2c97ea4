/*
 * identity.h — the simulated device's serial number (identity.c): chosen from the OS's randomness
 * on the first start and kept beside the flash file, as an ESP32 keeps its MAC in eFuses.
 */
#ifndef WIM_SIM_IDENTITY_H
#define WIM_SIM_IDENTITY_H

#include "host.h"

/* Where the identity lives: FLASH_PATH.id (read or made on first use). */
void sim_identity_init(const char *flash_path);

/* sim_device_serial(): the serial as a string, "SIM" and 12 hex digits (15 characters). */
void sim_device_serial(sim_machine *the);

#endif
