// A fresh directory for a test or a benchmark run, removed with everything in it on
// destruction.
#ifndef SANHAK_TESTS_SUPPORT_TEMP_DIR_H_
#define SANHAK_TESTS_SUPPORT_TEMP_DIR_H_

#include <string>

namespace sanhak::testing {

class TempDir {
 public:
  // "{base}/{prefix}-XXXXXX", base being $TEST_TMPDIR, else $TMPDIR, else /tmp. path() is
  // empty when it could not be made.
  explicit TempDir(const std::string& prefix = "sanhak-test");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

}  // namespace sanhak::testing

#endif  // SANHAK_TESTS_SUPPORT_TEMP_DIR_H_
