// What the process writes to stderr (fd 2) while `write` runs, read back from a
// temporary file that stands in for it: Log() lines, gRPC's and libprotobuf's routed
// lines, from every thread of the process meanwhile.
#ifndef SANHAK_TESTS_SUPPORT_CAPTURE_STDERR_H_
#define SANHAK_TESTS_SUPPORT_CAPTURE_STDERR_H_

#include <unistd.h>

#include <cstdio>
#include <string>

namespace sanhak::testing {

template <typename Write>
std::string CaptureStderr(Write write) {
  std::fflush(stderr);
  FILE* file = std::tmpfile();
  if (file == nullptr) {
    write();
    return "(stderr could not be captured: no temporary file)";
  }
  const int saved = ::dup(STDERR_FILENO);
  ::dup2(::fileno(file), STDERR_FILENO);
  write();
  std::fflush(stderr);
  ::dup2(saved, STDERR_FILENO);
  ::close(saved);
  std::string out;
  std::rewind(file);
  char buffer[1 << 16];
  for (size_t n; (n = std::fread(buffer, 1, sizeof(buffer), file)) > 0;) out.append(buffer, n);
  std::fclose(file);
  return out;
}

}  // namespace sanhak::testing

#endif  // SANHAK_TESTS_SUPPORT_CAPTURE_STDERR_H_
