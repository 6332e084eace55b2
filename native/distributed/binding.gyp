# The c10d addon (native/distributed): built by scripts/build-dist-addon.mjs into
# native/distributed/build, against the libtorch the main addon was built with (the script reads
# build-native.mjs's stamp, build/Release/libtorch-config.json, and passes these variables).
# Gloo: Debian's libgloo-dev headers; -DUSE_DISTRIBUTED -DUSE_C10D_GLOO select c10d's Gloo parts.
{
  "targets": [
    {
      "target_name": "noisy_student_distributed",
      "sources": ["src/distributed.cc"],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "<!@(node -p \"process.env.NOISY_STUDENT_TORCH_INCLUDES || '/usr/include /usr/include/torch/csrc/api/include'\")"
      ],
      "defines": [
        "NODE_ADDON_API_CPP_EXCEPTIONS",
        "NODE_ADDON_API_CPP_EXCEPTIONS_ALL",
        "NODE_ADDON_API_DISABLE_DEPRECATED",
        "USE_DISTRIBUTED",
        "USE_C10D_GLOO",
        "_GLIBCXX_USE_CXX11_ABI=<!(node -p \"process.env.NOISY_STUDENT_TORCH_CXX11_ABI || '1'\")",
        "<!@(node -p \"process.env.NOISY_STUDENT_DIST_DEFINES || 'NS_DIST_CPU=1'\")"
      ],
      "cflags!": ["-fno-rtti", "-fno-exceptions"],
      "cflags_cc!": ["-fno-rtti", "-fno-exceptions", "-std=gnu++20", "-std=gnu++17", "-std=gnu++14"],
      "cflags_cc": [
        "-std=<!(node -p \"process.env.NOISY_STUDENT_TORCH_CXX_STD || 'c++17'\")",
        "-frtti", "-fexceptions", "-O2", "-Wno-unused-parameter", "-Wno-deprecated-declarations"
      ],
      "libraries": ["<!@(node -p \"process.env.NOISY_STUDENT_TORCH_LIBS || '-Wl,--no-as-needed -ltorch -ltorch_cpu -lc10'\")"]
    }
  ]
}
