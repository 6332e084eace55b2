// decodeJpeg: a baseline or progressive JPEG decoded with the system's libjpeg(-turbo) straight into
// a JavaScript buffer, on the libuv thread pool. Built only when libjpeg's headers are found
// (scripts/build-image-addon.mjs); without it the addon has no decodeJpeg and image_io.ts decodes
// with sharp as before.
//
// Why (measured on the 2-vCPU dev machine, the 200 ~500x375 bench photos): libjpeg-turbo itself
// decodes one in ~0.75 ms, sharp/libvips took 1.6-2.9 ms (its pipeline around the same decoder),
// and PIL, timm's decoder, 1.3 ms. The output is PIL's: PIL 9.4 calls the same library with the same
// settings (JDCT_ISLOW, fancy upsampling, output colour space RGB, greyscale replicated by
// libjpeg-turbo's gray->RGB conversion as PIL's convert("RGB") replicates L), which the timm
// fixture's decoded sha256 checks (test/data/jpeg_native.test.ts).
//
// Errors: libjpeg's default error_exit ends the process; here it longjmps back and the decode
// rejects with libjpeg's message. "Premature end of JPEG file" (a truncated file, a warning to
// libjpeg, which would pad with grey) is an error, as it is for sharp with failOn 'truncated' and
// for PIL without LOAD_TRUNCATED_IMAGES; other corrupt-data warnings are ignored, as both do.
#include <napi.h>

#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <string>

#include <jpeglib.h>
#include <jerror.h>

#include "jpeg.h"

namespace nsimg {
namespace {

struct ErrorMgr {
  jpeg_error_mgr pub;
  jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
  bool truncated;
};

void OnError(j_common_ptr c) {
  auto* e = reinterpret_cast<ErrorMgr*>(c->err);
  (*c->err->format_message)(c, e->message);
  longjmp(e->jump, 1);
}

void OnMessage(j_common_ptr c, int level) {
  // level -1: a warning (corrupt data); >= 0: trace messages, never printed.
  if (level == -1 && c->err->msg_code == JWRN_JPEG_EOF) reinterpret_cast<ErrorMgr*>(c->err)->truncated = true;
}

// The decode proper, no JavaScript involved (runs on a pool thread). Returns "" or the error.
std::string Decode(const uint8_t* src, size_t len, uint8_t* out, size_t out_len, uint32_t want_w, uint32_t want_h) {
  jpeg_decompress_struct c;
  ErrorMgr err;
  std::memset(&err, 0, sizeof err);
  c.err = jpeg_std_error(&err.pub);
  err.pub.error_exit = OnError;
  err.pub.emit_message = OnMessage;
  // Nothing below allocates outside libjpeg's pools, so jumping back past it leaks nothing.
  if (setjmp(err.jump)) {
    jpeg_destroy_decompress(&c);
    return err.message;
  }
  jpeg_create_decompress(&c);
  jpeg_mem_src(&c, const_cast<unsigned char*>(src), static_cast<unsigned long>(len));
  jpeg_read_header(&c, TRUE);
  if (c.image_width != want_w || c.image_height != want_h || (c.num_components != 1 && c.num_components != 3)) {
    jpeg_destroy_decompress(&c);
    return "the frame header does not match the one read in JavaScript";
  }
  c.out_color_space = JCS_RGB;  // YCbCr -> RGB; greyscale replicated
  c.dct_method = JDCT_ISLOW;    // libjpeg's default, and PIL's
  c.do_fancy_upsampling = TRUE;
  jpeg_start_decompress(&c);
  const size_t stride = static_cast<size_t>(c.output_width) * 3;
  if (c.output_components != 3 || stride * c.output_height != out_len) {
    jpeg_destroy_decompress(&c);
    return "the output buffer does not match the decoded size";
  }
  while (c.output_scanline < c.output_height) {
    JSAMPROW row = out + stride * c.output_scanline;
    jpeg_read_scanlines(&c, &row, 1);
  }
  jpeg_finish_decompress(&c);
  jpeg_destroy_decompress(&c);
  return err.truncated ? "Premature end of JPEG file (truncated)" : "";
}

class DecodeWorker : public Napi::AsyncWorker {
 public:
  DecodeWorker(Napi::Env env, Napi::Uint8Array src, Napi::Uint8Array out, uint32_t w, uint32_t h)
      : Napi::AsyncWorker(env, "noisy_student_image.decodeJpeg"),
        deferred_(Napi::Promise::Deferred::New(env)),
        src_data_(src.Data()),
        src_len_(src.ElementLength()),
        out_data_(out.Data()),
        out_len_(out.ElementLength()),
        w_(w),
        h_(h) {
    // Both buffers stay alive (and unmoved: typed array memory does not move) until the decode ends.
    src_ref_ = Napi::Persistent(static_cast<Napi::Object>(src));
    out_ref_ = Napi::Persistent(static_cast<Napi::Object>(out));
  }

  Napi::Promise Promise() { return deferred_.Promise(); }

 protected:
  void Execute() override {
    const std::string e = Decode(src_data_, src_len_, out_data_, out_len_, w_, h_);
    if (!e.empty()) SetError(e);
  }
  void OnOK() override { deferred_.Resolve(Env().Undefined()); }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  Napi::ObjectReference src_ref_, out_ref_;
  const uint8_t* src_data_;
  size_t src_len_;
  uint8_t* out_data_;
  size_t out_len_;
  uint32_t w_, h_;
};

}  // namespace

// decodeJpeg(src, width, height, out) -> Promise<void>: `out` holds width x height x 3 bytes (RGB);
// width and height are the frame header's, read in JavaScript (jpeg_header.ts) and checked here.
Napi::Value DecodeJpeg(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto typed = [&](size_t i, const char* name) {
    if (!info[i].IsTypedArray() || info[i].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
      throw Napi::TypeError::New(env, std::string("noisy_student_image: ") + name + " must be a Uint8Array");
    }
    return info[i].As<Napi::Uint8Array>();
  };
  auto dim = [&](size_t i, const char* name) {
    const double d = info[i].IsNumber() ? info[i].As<Napi::Number>().DoubleValue() : -1;
    if (!(d >= 1 && d <= 65535) || static_cast<double>(static_cast<uint32_t>(d)) != d) {
      throw Napi::TypeError::New(env, std::string("noisy_student_image: ") + name + " must be an integer in 1..65535");
    }
    return static_cast<uint32_t>(d);
  };
  auto src = typed(0, "src");
  const uint32_t w = dim(1, "width");
  const uint32_t h = dim(2, "height");
  auto out = typed(3, "out");
  if (out.ElementLength() != static_cast<size_t>(w) * h * 3) throw Napi::RangeError::New(env, "noisy_student_image: out must hold width x height x 3 bytes");
  auto* worker = new DecodeWorker(env, src, out, w, h);
  Napi::Promise p = worker->Promise();
  worker->Queue();
  return p;
}

}  // namespace nsimg
