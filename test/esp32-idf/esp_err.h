/* Stand-in for ESP-IDF's esp_err.h: declarations only, from ESP-IDF's documented API (v5.x), for
 * `make esp32-host-check` (hosts/esp32/wim_host.c compiled with -Wall -Wextra -Werror). Not for linking. */
#ifndef WIM_STUB_ESP_ERR_H
#define WIM_STUB_ESP_ERR_H
typedef int esp_err_t;
#define ESP_OK 0
#define ESP_FAIL -1
#define ESP_ERR_INVALID_ARG 0x102
#endif
