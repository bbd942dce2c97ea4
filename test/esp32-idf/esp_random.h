/* Stand-in for ESP-IDF's esp_random.h (declarations only; see esp_err.h). */
#ifndef WIM_STUB_ESP_RANDOM_H
#define WIM_STUB_ESP_RANDOM_H
#include <stddef.h>
#include <stdint.h>
uint32_t esp_random(void);
void esp_fill_random(void *buf, size_t len);
#endif
