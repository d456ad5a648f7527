// A hostile HTTP/2 client for overload tests: it opens gRPC unary calls that announce a
// large message, sends most of it and then stalls, never ending the stream. Each such
// stream asks the server to hold a half-received message; the tests check that a server
// bounds what it holds per connection and in total.
//
// Plain POSIX sockets and a minimal HTTP/2 framer (no gRPC, no HTTP/2 library), so the
// attack does exactly what is written here and nothing a well-behaved client library
// would add (backpressure, limits of its own). It honours what a correct peer must:
// SETTINGS (acknowledged; INITIAL_WINDOW_SIZE, MAX_FRAME_SIZE, MAX_CONCURRENT_STREAMS),
// flow control (WINDOW_UPDATE), PING (answered, so keepalive cannot tell it from a live
// client) and GOAWAY (no new streams).
#ifndef SANHAK_TESTS_SUPPORT_HTTP2_STALL_H_
#define SANHAK_TESTS_SUPPORT_HTTP2_STALL_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace sanhak::testing {

struct StallOptions {
  // The gRPC method each stream calls.
  std::string path = "/sanhak.registry.v1.RegistryService/CreateOrganization";
  // Streams to open on one connection (fewer are open at once if the server's
  // MAX_CONCURRENT_STREAMS is lower; a stream the server closes is replaced until this
  // many were opened).
  int streams = 60;
  // The message length the 5-byte gRPC prefix announces.
  uint32_t announced_bytes = 4'000'000;
  // Message bytes sent (as far as flow control allows) before the stream stalls; below
  // announced_bytes, so no message is ever complete.
  uint32_t sent_bytes = 3'900'000;
};

// What one connection saw. Counts are of streams; bytes are DATA payload bytes (gRPC
// prefix included) written within the windows the server granted.
struct StallStats {
  bool connected = false;     // TCP connected and the server's SETTINGS arrived
  int max_concurrent_streams = -1;  // as the server announced; -1 if it did not
  int initial_window = 65535;       // the server's SETTINGS_INITIAL_WINDOW_SIZE
  int opened = 0;             // HEADERS sent
  int refused = 0;            // RST_STREAM REFUSED_STREAM
  int reset = 0;              // RST_STREAM with any other code
  int answered = 0;           // the server ended the stream (trailers) before any reset
  int64_t bytes_accepted = 0;
  bool goaway = false;
  uint32_t goaway_error = 0;
  bool closed_by_peer = false;  // EOF or a socket error
  std::string error;            // why the connection stopped early, if it did

  StallStats& operator+=(const StallStats& other);
};

std::string ToString(const StallStats& stats);

// One connection, driven by one thread at a time.
class StalledConnection {
 public:
  explicit StalledConnection(StallOptions options) : options_(std::move(options)) {}
  ~StalledConnection() { Close(); }
  StalledConnection(const StalledConnection&) = delete;
  StalledConnection& operator=(const StalledConnection&) = delete;

  // Connects to 127.0.0.1:port and exchanges the preface and SETTINGS (waiting up to
  // `limit` for the server's). False (with stats().error) on failure.
  bool Connect(int port, std::chrono::milliseconds limit = std::chrono::seconds(5));
  // Opens streams, sends what flow control allows and answers the server's frames until
  // `until` or until the connection ends.
  void PumpUntil(std::chrono::steady_clock::time_point until);
  void Close();
  bool open() const { return fd_ >= 0; }
  const StallStats& stats() const { return stats_; }

 private:
  struct Stream {
    uint32_t id;
    int64_t window;
    int64_t sent = 0;  // message bytes after the 5-byte prefix
    bool prefix_sent = false;
  };

  bool Flush();  // writes what the socket takes now; false on error
  bool ReadFrames();  // reads what is available and handles whole frames; false on EOF
  void HandleFrame(uint8_t type, uint8_t flags, uint32_t stream_id, const std::string& payload);
  void OpenStreams();
  void QueueData();
  void QueueFrame(uint8_t type, uint8_t flags, uint32_t stream_id, const std::string& payload);
  void Fail(const std::string& why);
  Stream* Find(uint32_t id);
  void Remove(uint32_t id);

  StallOptions options_;
  StallStats stats_;
  int port_ = 0;
  int fd_ = -1;
  std::string in_;
  std::string out_;
  size_t out_pos_ = 0;
  bool settings_received_ = false;
  uint32_t next_stream_id_ = 1;
  uint32_t max_frame_ = 16384;
  int64_t connection_window_ = 65535;
  std::vector<Stream> streams_;  // open ones, in id order
};

// `connections` stalled connections, each on a thread of its own, pumped from the
// constructor until Stop() (or `limit` as a safety bound), then closed.
class StallAttack {
 public:
  StallAttack(int port, int connections, StallOptions options,
              std::chrono::seconds limit = std::chrono::seconds(120));
  ~StallAttack() { Stop(); }
  // Closes every socket and joins the threads.
  void Stop();
  // Sums over all connections, as of the last pump round (at most ~50 ms old).
  StallStats Total() const;
  int connected() const;

 private:
  std::atomic<bool> stop_{false};
  mutable std::mutex mu_;
  std::vector<StallStats> stats_;  // guarded by mu_
  std::vector<std::thread> threads_;
};

}  // namespace sanhak::testing

#endif  // SANHAK_TESTS_SUPPORT_HTTP2_STALL_H_
