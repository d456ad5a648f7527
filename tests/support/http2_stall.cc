#include "tests/support/http2_stall.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <sstream>

namespace sanhak::testing {
namespace {

// RFC 9113 frame types, flags, settings and error codes used here.
constexpr uint8_t kData = 0x0;
constexpr uint8_t kHeaders = 0x1;
constexpr uint8_t kRstStream = 0x3;
constexpr uint8_t kSettings = 0x4;
constexpr uint8_t kPing = 0x6;
constexpr uint8_t kGoaway = 0x7;
constexpr uint8_t kWindowUpdate = 0x8;
constexpr uint8_t kEndStream = 0x1;
constexpr uint8_t kAck = 0x1;
constexpr uint8_t kEndHeaders = 0x4;
constexpr uint16_t kMaxConcurrentStreams = 0x3;
constexpr uint16_t kInitialWindowSize = 0x4;
constexpr uint16_t kMaxFrameSize = 0x5;
constexpr uint32_t kRefusedStream = 0x7;
constexpr char kPreface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
// Frames are generated only while less than this waits to be written, so a slow reader
// on the server side costs the client bounded memory.
constexpr size_t kOutHighWater = 256 * 1024;

uint32_t Be32(const std::string& s, size_t at) {
  return (uint32_t{static_cast<uint8_t>(s[at])} << 24) |
         (uint32_t{static_cast<uint8_t>(s[at + 1])} << 16) |
         (uint32_t{static_cast<uint8_t>(s[at + 2])} << 8) | static_cast<uint8_t>(s[at + 3]);
}

void PutBe32(std::string& s, uint32_t v) {
  s.push_back(static_cast<char>(v >> 24));
  s.push_back(static_cast<char>(v >> 16));
  s.push_back(static_cast<char>(v >> 8));
  s.push_back(static_cast<char>(v));
}

// An HPACK integer with an N-bit prefix (RFC 7541 5.1); `first` holds the bits above it.
void PutHpackInt(std::string& s, uint8_t first, int prefix_bits, size_t value) {
  const size_t max_prefix = (size_t{1} << prefix_bits) - 1;
  if (value < max_prefix) {
    s.push_back(static_cast<char>(first | value));
    return;
  }
  s.push_back(static_cast<char>(first | max_prefix));
  value -= max_prefix;
  while (value >= 128) {
    s.push_back(static_cast<char>((value & 0x7f) | 0x80));
    value >>= 7;
  }
  s.push_back(static_cast<char>(value));
}

// "Literal header field without indexing, new name", no Huffman (RFC 7541 6.2.2): the
// server's decoder needs no table state from us.
void PutHeader(std::string& s, const std::string& name, const std::string& value) {
  s.push_back(0x00);
  PutHpackInt(s, 0x00, 7, name.size());
  s += name;
  PutHpackInt(s, 0x00, 7, value.size());
  s += value;
}

}  // namespace

StallStats& StallStats::operator+=(const StallStats& other) {
  connected = connected || other.connected;
  if (other.max_concurrent_streams >= 0) max_concurrent_streams = other.max_concurrent_streams;
  initial_window = other.initial_window;
  opened += other.opened;
  refused += other.refused;
  reset += other.reset;
  answered += other.answered;
  bytes_accepted += other.bytes_accepted;
  goaway = goaway || other.goaway;
  if (other.goaway) goaway_error = other.goaway_error;
  closed_by_peer = closed_by_peer || other.closed_by_peer;
  if (error.empty()) error = other.error;
  return *this;
}

std::string ToString(const StallStats& s) {
  std::ostringstream out;
  out << "opened " << s.opened << ", refused " << s.refused << ", reset " << s.reset
      << ", answered " << s.answered << ", bytes accepted " << s.bytes_accepted
      << " (server max_concurrent_streams " << s.max_concurrent_streams
      << ", initial window " << s.initial_window << ")";
  if (s.goaway) out << ", GOAWAY error " << s.goaway_error;
  if (s.closed_by_peer) out << ", closed by peer";
  if (!s.error.empty()) out << ", error: " << s.error;
  return out.str();
}

bool StalledConnection::Connect(int port, std::chrono::milliseconds limit) {
  port_ = port;
  fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) {
    Fail(std::string("socket: ") + std::strerror(errno));
    return false;
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    Fail(std::string("connect: ") + std::strerror(errno));
    Close();
    return false;
  }
  int one = 1;
  setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  fcntl(fd_, F_SETFL, fcntl(fd_, F_GETFL) | O_NONBLOCK);
  out_.append(kPreface, sizeof(kPreface) - 1);
  QueueFrame(kSettings, 0, 0, "");
  auto until = std::chrono::steady_clock::now() + limit;
  while (fd_ >= 0 && !settings_received_ && std::chrono::steady_clock::now() < until) {
    if (!Flush()) break;
    pollfd p{fd_, static_cast<short>(POLLIN | (out_pos_ < out_.size() ? POLLOUT : 0)), 0};
    if (poll(&p, 1, 50) > 0 && (p.revents & (POLLIN | POLLHUP | POLLERR)) && !ReadFrames()) {
      break;
    }
  }
  if (!settings_received_) {
    Fail("no SETTINGS from the server");
    Close();
    return false;
  }
  stats_.connected = true;
  return Flush();
}

void StalledConnection::PumpUntil(std::chrono::steady_clock::time_point until) {
  while (fd_ >= 0) {
    OpenStreams();
    QueueData();
    if (!Flush()) return;
    auto now = std::chrono::steady_clock::now();
    if (now >= until) return;
    int wait_ms = static_cast<int>(std::min<int64_t>(
        50, std::chrono::duration_cast<std::chrono::milliseconds>(until - now).count() + 1));
    pollfd p{fd_, static_cast<short>(POLLIN | (out_pos_ < out_.size() ? POLLOUT : 0)), 0};
    if (poll(&p, 1, wait_ms) > 0 && (p.revents & (POLLIN | POLLHUP | POLLERR)) &&
        !ReadFrames()) {
      return;
    }
  }
}

void StalledConnection::Close() {
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
}

void StalledConnection::Fail(const std::string& why) {
  if (stats_.error.empty()) stats_.error = why;
}

bool StalledConnection::Flush() {
  while (fd_ >= 0 && out_pos_ < out_.size()) {
    ssize_t n = send(fd_, out_.data() + out_pos_, out_.size() - out_pos_, MSG_NOSIGNAL);
    if (n > 0) {
      out_pos_ += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    if (n < 0 && errno == EINTR) continue;
    stats_.closed_by_peer = true;
    Fail(std::string("send: ") + std::strerror(errno));
    Close();
    return false;
  }
  if (out_pos_ == out_.size()) {
    out_.clear();
    out_pos_ = 0;
  } else if (out_pos_ > kOutHighWater) {
    out_.erase(0, out_pos_);
    out_pos_ = 0;
  }
  return fd_ >= 0;
}

bool StalledConnection::ReadFrames() {
  char buffer[64 * 1024];
  while (fd_ >= 0) {
    ssize_t n = recv(fd_, buffer, sizeof(buffer), 0);
    if (n > 0) {
      in_.append(buffer, static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    if (n < 0 && errno == EINTR) continue;
    stats_.closed_by_peer = true;
    if (n < 0) Fail(std::string("recv: ") + std::strerror(errno));
    Close();
    break;
  }
  size_t at = 0;
  while (in_.size() - at >= 9) {
    const uint32_t length = (uint32_t{static_cast<uint8_t>(in_[at])} << 16) |
                            (uint32_t{static_cast<uint8_t>(in_[at + 1])} << 8) |
                            static_cast<uint8_t>(in_[at + 2]);
    if (in_.size() - at < 9 + length) break;
    const uint8_t type = static_cast<uint8_t>(in_[at + 3]);
    const uint8_t flags = static_cast<uint8_t>(in_[at + 4]);
    const uint32_t stream_id = Be32(in_, at + 5) & 0x7fffffff;
    HandleFrame(type, flags, stream_id, in_.substr(at + 9, length));
    at += 9 + length;
  }
  in_.erase(0, at);
  return fd_ >= 0;
}

void StalledConnection::HandleFrame(uint8_t type, uint8_t flags, uint32_t stream_id,
                                    const std::string& payload) {
  switch (type) {
    case kSettings: {
      if (flags & kAck) return;
      for (size_t i = 0; i + 6 <= payload.size(); i += 6) {
        const uint16_t id = static_cast<uint16_t>((static_cast<uint8_t>(payload[i]) << 8) |
                                                  static_cast<uint8_t>(payload[i + 1]));
        const uint32_t value = Be32(payload, i + 2);
        if (id == kMaxConcurrentStreams) {
          stats_.max_concurrent_streams = static_cast<int>(std::min<uint32_t>(value, 1 << 30));
        } else if (id == kInitialWindowSize) {
          // Applies to every open stream as a delta (RFC 9113 6.9.2).
          const int64_t delta = int64_t{value} - stats_.initial_window;
          for (Stream& s : streams_) s.window += delta;
          stats_.initial_window = static_cast<int>(value);
        } else if (id == kMaxFrameSize) {
          max_frame_ = value;
        }
      }
      QueueFrame(kSettings, kAck, 0, "");
      settings_received_ = true;
      return;
    }
    case kWindowUpdate: {
      if (payload.size() < 4) return;
      const int64_t increment = Be32(payload, 0) & 0x7fffffff;
      if (stream_id == 0) {
        connection_window_ += increment;
      } else if (Stream* s = Find(stream_id)) {
        s->window += increment;
      }
      return;
    }
    case kPing:
      // A live client answers pings, so keepalive cannot tell this one from it.
      if (!(flags & kAck)) QueueFrame(kPing, kAck, 0, payload);
      return;
    case kGoaway: {
      if (payload.size() < 8) return;
      stats_.goaway = true;
      const uint32_t last = Be32(payload, 0) & 0x7fffffff;
      stats_.goaway_error = Be32(payload, 4);
      // Streams above `last` were never processed: refused as much as REFUSED_STREAM.
      for (const Stream& s : streams_) {
        if (s.id > last) ++stats_.refused;
      }
      streams_.erase(std::remove_if(streams_.begin(), streams_.end(),
                                    [last](const Stream& s) { return s.id > last; }),
                     streams_.end());
      return;
    }
    case kRstStream: {
      if (payload.size() < 4 || Find(stream_id) == nullptr) return;
      if (Be32(payload, 0) == kRefusedStream) {
        ++stats_.refused;
      } else {
        ++stats_.reset;
      }
      Remove(stream_id);
      return;
    }
    case kHeaders:
      if ((flags & kEndStream) && Find(stream_id) != nullptr) {
        ++stats_.answered;
        Remove(stream_id);
      }
      return;
    case kData: {
      // Give back what a response took of the connection's window.
      if (!payload.empty()) {
        std::string increment;
        PutBe32(increment, static_cast<uint32_t>(payload.size()));
        QueueFrame(kWindowUpdate, 0, 0, increment);
      }
      if ((flags & kEndStream) && Find(stream_id) != nullptr) {
        ++stats_.answered;
        Remove(stream_id);
      }
      return;
    }
    default:
      return;
  }
}

void StalledConnection::OpenStreams() {
  if (!settings_received_ || stats_.goaway) return;
  const size_t limit = stats_.max_concurrent_streams < 0
                           ? static_cast<size_t>(options_.streams)
                           : static_cast<size_t>(stats_.max_concurrent_streams);
  while (streams_.size() < limit && stats_.opened < options_.streams) {
    std::string block;
    PutHeader(block, ":method", "POST");
    PutHeader(block, ":scheme", "http");
    PutHeader(block, ":path", options_.path);
    PutHeader(block, ":authority", "127.0.0.1:" + std::to_string(port_));
    PutHeader(block, "content-type", "application/grpc");
    PutHeader(block, "te", "trailers");
    const uint32_t id = next_stream_id_;
    next_stream_id_ += 2;
    QueueFrame(kHeaders, kEndHeaders, id, block);
    streams_.push_back(Stream{id, stats_.initial_window});
    ++stats_.opened;
  }
}

void StalledConnection::QueueData() {
  // The gRPC message prefix: not compressed, then the announced length, big-endian.
  std::string prefix(1, '\0');
  PutBe32(prefix, options_.announced_bytes);
  const int64_t total = int64_t{5} + options_.sent_bytes;
  // Round robin, one frame per stream per pass, so every stream gets its share of the
  // connection window.
  bool progress = true;
  while (progress && out_.size() - out_pos_ < kOutHighWater && connection_window_ > 0) {
    progress = false;
    for (Stream& s : streams_) {
      if (connection_window_ <= 0 || out_.size() - out_pos_ >= kOutHighWater) break;
      const int64_t chunk = std::min<int64_t>(
          {int64_t{max_frame_}, s.window, connection_window_, total - s.sent});
      if (chunk <= 0) continue;
      std::string payload(static_cast<size_t>(chunk), '\0');
      for (int64_t i = s.sent; i < 5 && i < s.sent + chunk; ++i) {
        payload[static_cast<size_t>(i - s.sent)] = prefix[static_cast<size_t>(i)];
      }
      QueueFrame(kData, 0, s.id, payload);
      s.sent += chunk;
      s.window -= chunk;
      connection_window_ -= chunk;
      stats_.bytes_accepted += chunk;
      progress = true;
    }
  }
}

void StalledConnection::QueueFrame(uint8_t type, uint8_t flags, uint32_t stream_id,
                                   const std::string& payload) {
  const uint32_t length = static_cast<uint32_t>(payload.size());
  out_.push_back(static_cast<char>(length >> 16));
  out_.push_back(static_cast<char>(length >> 8));
  out_.push_back(static_cast<char>(length));
  out_.push_back(static_cast<char>(type));
  out_.push_back(static_cast<char>(flags));
  PutBe32(out_, stream_id);
  out_ += payload;
}

StalledConnection::Stream* StalledConnection::Find(uint32_t id) {
  for (Stream& s : streams_) {
    if (s.id == id) return &s;
  }
  return nullptr;
}

void StalledConnection::Remove(uint32_t id) {
  streams_.erase(std::remove_if(streams_.begin(), streams_.end(),
                                [id](const Stream& s) { return s.id == id; }),
                 streams_.end());
}

StallAttack::StallAttack(int port, int connections, StallOptions options,
                         std::chrono::seconds limit)
    : stats_(static_cast<size_t>(connections)) {
  const auto until = std::chrono::steady_clock::now() + limit;
  for (int i = 0; i < connections; ++i) {
    threads_.emplace_back([this, i, port, options, until] {
      StalledConnection connection(options);
      bool up = connection.Connect(port);
      while (up && connection.open() && !stop_.load() &&
             std::chrono::steady_clock::now() < until) {
        connection.PumpUntil(std::min(until, std::chrono::steady_clock::now() +
                                                 std::chrono::milliseconds(50)));
        std::lock_guard<std::mutex> lock(mu_);
        stats_[static_cast<size_t>(i)] = connection.stats();
      }
      connection.Close();
      std::lock_guard<std::mutex> lock(mu_);
      stats_[static_cast<size_t>(i)] = connection.stats();
    });
  }
}

void StallAttack::Stop() {
  stop_ = true;
  for (std::thread& t : threads_) t.join();
  threads_.clear();
}

StallStats StallAttack::Total() const {
  std::lock_guard<std::mutex> lock(mu_);
  StallStats total;
  for (const StallStats& s : stats_) total += s;
  return total;
}

int StallAttack::connected() const {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<int>(
      std::count_if(stats_.begin(), stats_.end(), [](const StallStats& s) { return s.connected; }));
}

}  // namespace sanhak::testing
