# Sanitizer builds: configure a separate build directory with
#   -DSANHAK_SANITIZE=address,undefined   (build-asan: every test)
#   -DSANHAK_SANITIZE=thread              (build-tsan: the tests tests/CMakeLists.txt lists)
# and every target in it, generated protobuf code included, is compiled and linked with
# that -fsanitize list. -fno-sanitize-recover=all makes UndefinedBehaviorSanitizer stop
# at its first report, as the others do, so any report fails the process that made it.
#
# This only adds flags; it picks no compiler. The fuzzing build (clang, with
# -fsanitize=fuzzer-no-link beside address,undefined) adds its own: cmake/Fuzzing.cmake.
set(SANHAK_SANITIZE "" CACHE STRING
  "Comma-separated -fsanitize list for every target: address,undefined or thread; empty for none")
# Appended after the build type's flags. -O1 keeps sanitized tests fast enough and
# compiles in about 0.65 of the CPU time of -O2 -g with the same sanitizers (GCC 12,
# common/sqlite_resource_store.cc); -g1's line tables still give every frame file:line.
set(SANHAK_SANITIZE_OPT_FLAGS "-O1 -g1" CACHE STRING
  "Optimization and debug flags of sanitizer builds, after the build type's")

set(SANHAK_SANITIZERS "")
if(SANHAK_SANITIZE)
  string(REPLACE "," ";" SANHAK_SANITIZERS "${SANHAK_SANITIZE}")
  foreach(s IN LISTS SANHAK_SANITIZERS)
    if(NOT s MATCHES "^(address|undefined|thread)$")
      message(FATAL_ERROR "SANHAK_SANITIZE: unknown sanitizer '${s}'")
    endif()
  endforeach()
  if("thread" IN_LIST SANHAK_SANITIZERS AND "address" IN_LIST SANHAK_SANITIZERS)
    message(FATAL_ERROR "SANHAK_SANITIZE: thread and address cannot be combined")
  endif()

  separate_arguments(_sanhak_opt_flags UNIX_COMMAND "${SANHAK_SANITIZE_OPT_FLAGS}")
  set(_sanhak_sanitize_flags -fsanitize=${SANHAK_SANITIZE} -fno-omit-frame-pointer
    -fno-sanitize-recover=all)
  add_compile_options(${_sanhak_sanitize_flags} ${_sanhak_opt_flags})
  add_link_options(${_sanhak_sanitize_flags})

  if("thread" IN_LIST SANHAK_SANITIZERS)
    include(TsanAbseil)
  endif()
endif()

# Runtime options for every test in this build directory and every process a test
# starts (server binaries, sanhakctl: they inherit the environment). ctest reads the
# file written here before it runs any test and sets them in its own environment;
# gtest_discover_tests cannot carry an ENVIRONMENT property of more than one variable.
# Options already in the caller's environment come after ours, so they win.
#  - abort_on_error / halt_on_error: the first report kills the process.
#  - log_path: every ASan, LeakSanitizer and TSan report lands in
#    SANHAK_SANITIZER_REPORTS as report.<program>.<pid> (instead of stderr), so one in a
#    child process that a test kills with SIGKILL or whose exit status it never reads
#    still fails the run: scripts/test.sh fails when that directory is not empty after
#    ctest, and prints what it holds. GCC 12's UBSan ignores log_path and writes to
#    stderr; it aborts the process, so a report in a server fails the test that needs
#    that server, but one in a server the test no longer talks to goes unseen.
#  - detect_leaks: LeakSanitizer at the exit of every ASan process.
#  - detect_stack_use_after_return: a pointer into a returned frame (a queued write
#    whose caller has gone) is reported, not silently reused.
set(SANHAK_SANITIZER_REPORTS ${PROJECT_BINARY_DIR}/sanitizer-reports)
function(sanhak_sanitizer_test_environment)
  if(NOT SANHAK_SANITIZE)
    return()
  endif()
  set(common "log_path=${SANHAK_SANITIZER_REPORTS}/report:log_exe_name=1:print_summary=1")
  # The runtimes write no report into a directory that does not exist.
  set(env "file(MAKE_DIRECTORY ${SANHAK_SANITIZER_REPORTS})\n")
  if("address" IN_LIST SANHAK_SANITIZERS)
    string(APPEND env "set(ENV{ASAN_OPTIONS} \"${common}:abort_on_error=1:"
      "detect_leaks=1:detect_stack_use_after_return=1:strict_init_order=1:"
      "check_initialization_order=1:\$ENV{ASAN_OPTIONS}\")\n")
  endif()
  if("undefined" IN_LIST SANHAK_SANITIZERS)
    string(APPEND env "set(ENV{UBSAN_OPTIONS} \"${common}:print_stacktrace=1:"
      "halt_on_error=1:abort_on_error=1:\$ENV{UBSAN_OPTIONS}\")\n")
  endif()
  if("thread" IN_LIST SANHAK_SANITIZERS)
    string(APPEND env "set(ENV{TSAN_OPTIONS} \"${common}:halt_on_error=1:abort_on_error=1:"
      "second_deadlock_stack=1:"
      "suppressions=${PROJECT_SOURCE_DIR}/tests/tsan.supp:\$ENV{TSAN_OPTIONS}\")\n")
    string(APPEND env "set(ENV{LD_LIBRARY_PATH} "
      "\"${SANHAK_TSAN_LIBRARY_PATH}:\$ENV{LD_LIBRARY_PATH}\")\n")
  endif()
  file(WRITE ${PROJECT_BINARY_DIR}/sanitizer_env.cmake "${env}")
  set_property(DIRECTORY ${PROJECT_SOURCE_DIR} APPEND PROPERTY TEST_INCLUDE_FILES
    ${PROJECT_BINARY_DIR}/sanitizer_env.cmake)
endfunction()
