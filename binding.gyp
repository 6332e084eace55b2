{
  "targets": [
    {
      "target_name": "noisy_student_torch",
      "sources": ["native/src/addon.cc", "native/src/tensors.cc", "native/src/dispatch.cc", "native/src/autograd.cc", "native/src/fused.cc", "native/src/autocast.cc", "native/src/bn_act.cc"],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "<!@(node -p \"process.env.NOISY_STUDENT_TORCH_INCLUDES || '/usr/include /usr/include/torch/csrc/api/include'\")"
      ],
      "defines": [
        "NODE_ADDON_API_CPP_EXCEPTIONS",
        "NODE_ADDON_API_CPP_EXCEPTIONS_ALL",
        "NODE_ADDON_API_DISABLE_DEPRECATED",
        "_GLIBCXX_USE_CXX11_ABI=<!(node -p \"process.env.NOISY_STUDENT_TORCH_CXX11_ABI || '1'\")",
        "<!(node -p \"process.env.NOISY_STUDENT_TORCH_DEFINES || 'NS_DNNL=0'\")"
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
