/* Stand-in for ESP-IDF's esp_mac.h (declarations only; see esp_err.h). */
#ifndef WIM_STUB_ESP_MAC_H
#define WIM_STUB_ESP_MAC_H
#include <stdint.h>
#include "esp_err.h"
esp_err_t esp_efuse_mac_get_default(uint8_t *mac); /* 6 bytes: the factory MAC from the eFuses */
#endif
