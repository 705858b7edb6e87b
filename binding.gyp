{
  "targets": [
    {
      "target_name": "netback",
      "sources": ["native/netback.c"],
      "cflags_c": ["-std=gnu11", "-Wall", "-Wextra", "-Wno-unused-parameter", "-O2"],
      "libraries": ["-lm"]
    }
  ]
}
