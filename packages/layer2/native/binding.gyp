{
  "targets": [
    {
      "target_name": "ironlb_packet",
      "sources": ["packet.c"],
      "cflags": ["-Wall", "-Wextra", "-Werror=implicit-function-declaration", "-O2"]
    }
  ]
}
