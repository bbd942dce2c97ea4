/* Stand-in for ESP-IDF's esp_partition.h (declarations only; see esp_err.h). */
#ifndef WIM_STUB_ESP_PARTITION_H
#define WIM_STUB_ESP_PARTITION_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "esp_err.h"

typedef enum {
	ESP_PARTITION_TYPE_APP = 0x00,
	ESP_PARTITION_TYPE_DATA = 0x01,
	ESP_PARTITION_TYPE_ANY = 0xff,
} esp_partition_type_t;

typedef enum {
	ESP_PARTITION_SUBTYPE_DATA_NVS = 0x02,
	ESP_PARTITION_SUBTYPE_ANY = 0xff,
} esp_partition_subtype_t;

typedef struct {
	const void *flash_chip;
	esp_partition_type_t type;
	esp_partition_subtype_t subtype;
	uint32_t address;
	uint32_t size;
	uint32_t erase_size;
	char label[17];
	bool encrypted; /* true only where flash encryption is on and the partition table marks it */
	bool readonly;
} esp_partition_t;

const esp_partition_t *esp_partition_find_first(esp_partition_type_t type, esp_partition_subtype_t subtype,
		const char *label);
esp_err_t esp_partition_read(const esp_partition_t *partition, size_t src_offset, void *dst, size_t size);
/* Reads without decryption (ESP-IDF 4.4 and later): the bytes on the chip, 0xFF where erased. */
esp_err_t esp_partition_read_raw(const esp_partition_t *partition, size_t src_offset, void *dst, size_t size);
esp_err_t esp_partition_write(const esp_partition_t *partition, size_t dst_offset, const void *src, size_t size);
esp_err_t esp_partition_erase_range(const esp_partition_t *partition, size_t offset, size_t size);
#endif
