# The image addon (no libtorch): built by scripts/build-image-addon.mjs into native/image/build.
# The kernels are compiled once per instruction set, each in its own static library with its own
# -m flags, and chosen at run time (src/addon.cc); the addon itself is built for the baseline CPU.
# (-Wno-maybe-uninitialized: GCC 12 warns inside its own AVX-512 headers, about _mm512_undefined.)
# -ffp-contract=off: no fused multiply-adds, so the float loops (augment.cc) round like JavaScript.
# libjpeg (-Dwith_jpeg=1, set by the build script when jpeglib.h is found) adds decodeJpeg (src/jpeg.cc).
{
  "variables": {"with_jpeg%": 0},
  "target_defaults": {
    "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
    "defines": ["NODE_ADDON_API_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
    "cflags!": ["-fno-exceptions"],
    "cflags_cc!": ["-fno-exceptions", "-std=gnu++20", "-std=gnu++17", "-std=gnu++14"],
    "cflags_cc": ["-std=c++17", "-fexceptions", "-O3", "-fPIC", "-Wall", "-Wextra", "-Wno-unused-parameter",
                   "-ffp-contract=off"],
    "conditions": [["target_arch=='x64'", {"defines": ["NSIMG_X86"]}]]
  },
  "targets": [
    {
      "target_name": "noisy_student_image",
      "sources": ["src/addon.cc", "src/augment.cc", "src/kernels_scalar.cc"],
      "conditions": [
        ["target_arch=='x64'", {"dependencies": ["kernels_avx2", "kernels_avx512"]}],
        ["with_jpeg==1", {"sources": ["src/jpeg.cc"], "defines": ["NSIMG_JPEG"], "libraries": ["-ljpeg"]}]
      ]
    }
  ],
  "conditions": [
    ["target_arch=='x64'", {
      "targets": [
        {"target_name": "kernels_avx2", "type": "static_library", "sources": ["src/kernels_avx2.cc"],
         "cflags_cc": ["-mavx2", "-mfma"]},
        {"target_name": "kernels_avx512", "type": "static_library", "sources": ["src/kernels_avx512.cc"],
         "cflags_cc": ["-mavx512f", "-mavx512bw", "-mavx512vl", "-mavx2", "-mfma", "-mprefer-vector-width=512",
                       "-Wno-maybe-uninitialized"]}
      ]
    }]
  ]
}
