/*
 * wim_host.c — the ESP32's half of the C Env: the key store's flash partition ("wimstore",
 * hosts/esp32/partitions.csv), the hardware RNG and the device's serial number (from the eFuse
 * MAC). Built with the Moddable SDK and ESP-IDF; `make esp32-host-check` compiles it against XS's
 * xsmc.h and the ESP-IDF declarations it uses (test/esp32-idf/) with -Wall -Wextra -Werror.
 * Its JavaScript names are rows of modules/wim/native/natives.table (scope esp32).
 */
#include "esp_mac.h"
#include "esp_partition.h"
#include "esp_random.h"
#include "xsmc.h"
#include "wim_env.h"

static const esp_partition_t *partition(void)
{
	static const esp_partition_t *p;
	if (!p) p = esp_partition_find_first(ESP_PARTITION_TYPE_DATA, 0x40, "wimstore");
	return p;
}

/* esp_partition_read decrypts where the partition is encrypted (an erased block then reads as
 * pseudo-random bytes); esp_partition_read_raw never does (0xFF where erased): the key store asks it
 * whether a block is erased. On a plain partition the two are the same. */
static int flash_read(void *ctx, uint32_t offset, void *buf, uint32_t len)
{
	(void)ctx;
	return esp_partition_read(partition(), offset, buf, len) == ESP_OK ? WIM_OK : WIM_E_FLASH;
}

static int flash_read_raw(void *ctx, uint32_t offset, void *buf, uint32_t len)
{
	(void)ctx;
	return esp_partition_read_raw(partition(), offset, buf, len) == ESP_OK ? WIM_OK : WIM_E_FLASH;
}

/* On a partition that flash encryption covers (partitions.csv marks wimstore `encrypted`; it counts only
 * once flash encryption is on), esp_partition_write encrypts 16-byte blocks: offset and length must be
 * multiples of 16, and a block once written cannot take a second write (its ciphertext would change
 * whole). The key store (format WIS2) writes only whole blocks, each once; a write off the 16-byte grid
 * would be a bug, and is refused here as a flash error before it reaches the flash. */
static int flash_write(void *ctx, uint32_t offset, const void *buf, uint32_t len)
{
	(void)ctx;
	if (partition()->encrypted && ((offset | len) & 15u))
		return WIM_E_FLASH;
	return esp_partition_write(partition(), offset, buf, len) == ESP_OK ? WIM_OK : WIM_E_FLASH;
}

static int flash_erase(void *ctx, uint32_t sector_offset)
{
	(void)ctx;
	return esp_partition_erase_range(partition(), sector_offset, 4096) == ESP_OK ? WIM_OK : WIM_E_FLASH;
}

static wim_flash flash = { 0, 0, 4096, flash_read, flash_write, flash_erase, flash_read_raw };

const wim_flash *wim_host_flash(void)
{
	if (!partition()) return 0;
	flash.size = partition()->size;
	return &flash;
}

static int rng_fill(void *ctx, uint8_t *buf, size_t len)
{
	(void)ctx;
	esp_fill_random(buf, len); /* the hardware RNG; RF or the bootloader entropy source must be on */
	return WIM_OK;
}

static const wim_rng rng = { 0, rng_fill };

const wim_rng *wim_host_rng(void)
{
	return &rng;
}

/* wim_host_random(bytes): fills an ArrayBuffer, a Uint8Array or a DataView (at most
 * WIM_HOST_RANDOM_MAX bytes) from the hardware RNG: the JS Env's random. Anything else is a TypeError
 * (xsmcGetBufferWritable also refuses a detached or read-only buffer), a larger one a RangeError. */
#define WIM_HOST_RANDOM_MAX 65536u

void wim_host_random(xsMachine *the)
{
	void *data;
	xsUnsignedValue length;
	if (xsmcArgc != 1)
		xsTypeError("wim_host_random: expected one ArrayBuffer or Uint8Array");
	xsmcGetBufferWritable(xsArg(0), &data, &length);
	if (length > WIM_HOST_RANDOM_MAX)
		xsRangeError("wim_host_random: at most 65536 bytes at a time");
	esp_fill_random(data, length); /* calls no JavaScript: the buffer cannot move meanwhile */
}

/* wim_host_serial(): the serial number, "ESP" and the factory MAC burnt into the eFuses as 12
 * upper-case hex digits (15 characters; CK_TOKEN_INFO.serialNumber holds 16). Unique per chip,
 * the same across reboots, reflashing and C_InitToken. */
void wim_host_serial(xsMachine *the)
{
	static const char hex[] = "0123456789ABCDEF";
	uint8_t mac[6];
	char text[16];
	int i;
	if (xsmcArgc != 0)
		xsTypeError("wim_host_serial: takes no arguments");
	if (esp_efuse_mac_get_default(mac) != ESP_OK)
		xsUnknownError("wim_host_serial: cannot read the eFuse MAC");
	text[0] = 'E';
	text[1] = 'S';
	text[2] = 'P';
	for (i = 0; i < 6; i++) {
		text[3 + 2 * i] = hex[mac[i] >> 4];
		text[4 + 2 * i] = hex[mac[i] & 15];
	}
	text[15] = 0;
	xsmcSetString(xsResult, text);
}
