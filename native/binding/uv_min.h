// The few libuv calls the loop pump makes, declared here because the Node-API
// headers that cmake-js builds against (node-api-headers) do not ship uv.h,
// and a fresh `npm install` cannot count on the full Node headers (a download
// from nodejs.org) or a distribution's libuv-dev package.
//
// Why this is sound: Node exports libuv's symbols to addons (Node docs,
// "C++ addons": "Node.js includes other statically linked libraries including
// ... libuv"; Debian's node links the shared libuv1 instead, same symbols), and
// libuv keeps its ABI stable within major version 1 (libuv docs, "Versioning").
// Handles are treated as opaque: their size comes from uv_handle_size() and
// their user pointer goes through uv_handle_set_data()/get_data() (libuv 1.19),
// so no struct layout is assumed. UV_IDLE's value is fixed by the order of
// UV_HANDLE_TYPE_MAP in uv.h (UNKNOWN=0, ASYNC, CHECK, FS_EVENT, FS_POLL,
// HANDLE, IDLE=6), which 1.x never reorders.
#pragma once
#include <cstddef>

extern "C" {
struct uv_loop_s;
struct uv_handle_s;
struct uv_idle_s;
typedef struct uv_loop_s uv_loop_t;
typedef struct uv_handle_s uv_handle_t;
typedef struct uv_idle_s uv_idle_t;
typedef void (*uv_idle_cb)(uv_idle_t* handle);
typedef void (*uv_close_cb)(uv_handle_t* handle);

size_t uv_handle_size(int type);
void uv_handle_set_data(uv_handle_t* handle, void* data);
void* uv_handle_get_data(const uv_handle_t* handle);
int uv_idle_init(uv_loop_t* loop, uv_idle_t* idle);
int uv_idle_start(uv_idle_t* idle, uv_idle_cb cb);
int uv_idle_stop(uv_idle_t* idle);
void uv_close(uv_handle_t* handle, uv_close_cb close_cb);
}

namespace lr::binding::uv {
constexpr int kIdle = 6;  // UV_IDLE
}  // namespace lr::binding::uv
