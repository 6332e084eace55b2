// The libtorch addon's tensors, as other native modules of this package see them (the c10d module,
// native/distributed). A JS tensor is a numeric handle into this addon's table, which lives in its
// instance data; another module cannot read that, so this addon hands out a table of plain C
// function pointers (tensorApi(), an External) instead. Both modules link the same libtorch and are
// built with the same flags (scripts/build-dist-addon.mjs reads build-native.mjs's stamp), so an
// at::Tensor crosses the boundary as is. No C++ exception crosses it: the calls report failure by
// their return value. Bump the version on any change to the layout.
#pragma once

#include <ATen/Tensor.h>

#include <cstdint>

#define NS_TENSOR_API_VERSION 1

struct NsTensorApi {
  uint32_t version;
  uint32_t size;  // sizeof(NsTensorApi) of the addon that filled it
  void* addon;
  // The tensor behind a JS handle (copied into *out, a new reference); false when the handle is
  // stale or not a handle. JS thread only.
  bool (*get)(void* addon, double handle, at::Tensor* out);
  // A new handle for `t` (the caller's JS tensor wraps it). JS thread only.
  double (*store)(void* addon, const at::Tensor* t);
  // Blocks until the addon's compute thread has run everything queued (async backward, async ops),
  // so a collective reads finished tensors. JS thread only.
  void (*wait_idle)(void* addon);
};
