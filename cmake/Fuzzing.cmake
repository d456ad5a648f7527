# -DSANHAK_FUZZ=ON: the libFuzzer targets of fuzz/ (scripts/test.sh's fuzz pass builds
# them in build-fuzz/). Needs clang (Debian's clang with libclang-rt-14-dev, which ships
# libFuzzer) and -DSANHAK_SANITIZE=address,undefined: every target of the build directory,
# generated protobuf code included, then also gets -fsanitize=fuzzer-no-link (libFuzzer's
# coverage instrumentation, without its main), and only the fuzz targets link libFuzzer
# itself (fuzz/CMakeLists.txt). Off, this adds nothing to a build.
option(SANHAK_FUZZ "Build the libFuzzer targets of fuzz/ (clang, with SANHAK_SANITIZE=address,undefined)" OFF)

if(SANHAK_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "SANHAK_FUZZ needs clang (CXX=clang++), not ${CMAKE_CXX_COMPILER_ID}")
  endif()
  if(NOT "address" IN_LIST SANHAK_SANITIZERS)
    message(FATAL_ERROR "SANHAK_FUZZ needs -DSANHAK_SANITIZE=address,undefined")
  endif()
  add_compile_options(-fsanitize=fuzzer-no-link)
endif()
