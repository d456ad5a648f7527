# ThreadSanitizer sees synchronization only in code it instrumented or in calls it
# intercepts (pthread, std::mutex). Debian's libabsl_synchronization is not instrumented
# and absl::Mutex waits on a futex, so every absl::Mutex, CondVar and Notification, in our
# code and inside gRPC (gpr_mu, grpc_core::Mutex and grpc::internal::Mutex wrap
# absl::Mutex), is invisible to it: data handed over under one is reported as a race.
# cmake/tsan_absl_check.cc shows it: four threads counting under an absl::Mutex race
# with the installed library and do not with the one built here.
#
# So a ThreadSanitizer build also compiles Debian's own abseil source (the version of the
# installed libabsl-dev, fetched with `apt-get source` from the machine's configured
# Debian archive into the build directory) into an instrumented
# libabsl_synchronization.so with the installed library's soname. Built with
# -fsanitize=thread, its Mutex and CondVar tell the runtime every lock, unlock and wait
# (absl's ABSL_TSAN_MUTEX_* annotations). The tests load it ahead of the installed one
# through LD_LIBRARY_PATH (cmake/Sanitizers.cmake), and so do the processes they start.
# Only those seven files are rebuilt: the rest of abseil, gRPC and protobuf stay
# uninstrumented (see tests/tsan.supp for what that leaves unseen).

set(_sanhak_absl_deps_dir ${PROJECT_BINARY_DIR}/_deps)

execute_process(
  COMMAND dpkg-query -W [[-f=${source:Package};${source:Version}]] libabsl-dev
  OUTPUT_VARIABLE _sanhak_absl_pkg RESULT_VARIABLE rc OUTPUT_STRIP_TRAILING_WHITESPACE)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "SANHAK_SANITIZE=thread: libabsl-dev is not installed (scripts/install-deps.sh)")
endif()
list(GET _sanhak_absl_pkg 0 _sanhak_absl_source)
list(GET _sanhak_absl_pkg 1 _sanhak_absl_version)
# 20220623.1-1+deb12u2 -> soname version 20220623
string(REGEX MATCH "^[0-9]+" _sanhak_absl_soversion "${_sanhak_absl_version}")
set(_sanhak_absl_src ${_sanhak_absl_deps_dir}/${_sanhak_absl_source}-${_sanhak_absl_version})

if(NOT EXISTS ${_sanhak_absl_src}/absl/synchronization/mutex.cc)
  message(STATUS "Fetching Debian source ${_sanhak_absl_source}=${_sanhak_absl_version}")
  execute_process(
    COMMAND bash ${PROJECT_SOURCE_DIR}/cmake/fetch_debian_source.sh
      ${_sanhak_absl_source} ${_sanhak_absl_version} ${_sanhak_absl_src}
    RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0 OR NOT EXISTS ${_sanhak_absl_src}/absl/synchronization/mutex.cc)
    message(FATAL_ERROR "SANHAK_SANITIZE=thread: could not fetch the Debian source of "
      "${_sanhak_absl_source} ${_sanhak_absl_version}; without it ThreadSanitizer "
      "reports every absl::Mutex handover as a race")
  endif()
endif()

# absl/synchronization/CMakeLists.txt's `synchronization` library, file for file. Built
# against the installed headers (not the source tree's), so the options Debian compiled
# with (inline namespace, hardening) are the same on both sides.
set(_s ${_sanhak_absl_src}/absl/synchronization)
add_library(sanhak_tsan_absl_synchronization SHARED
  ${_s}/barrier.cc
  ${_s}/blocking_counter.cc
  ${_s}/internal/create_thread_identity.cc
  ${_s}/internal/per_thread_sem.cc
  ${_s}/internal/waiter.cc
  ${_s}/notification.cc
  ${_s}/mutex.cc
)
set_target_properties(sanhak_tsan_absl_synchronization PROPERTIES
  OUTPUT_NAME absl_synchronization
  VERSION ${_sanhak_absl_soversion}
  SOVERSION ${_sanhak_absl_soversion}
  LIBRARY_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/tsan-absl)
# Not our code: no warnings.
target_compile_options(sanhak_tsan_absl_synchronization PRIVATE -w)
target_link_libraries(sanhak_tsan_absl_synchronization PRIVATE
  absl::graphcycles_internal absl::stacktrace absl::symbolize absl::time
  absl::malloc_internal absl::base absl::spinlock_wait absl::raw_logging_internal)
set(SANHAK_TSAN_LIBRARY_PATH ${PROJECT_BINARY_DIR}/tsan-absl)
