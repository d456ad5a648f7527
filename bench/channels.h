// Client connections for the benchmark programs that drive servers in other processes.
#ifndef SANHAK_BENCH_CHANNELS_H_
#define SANHAK_BENCH_CHANNELS_H_

#include <memory>
#include <string>
#include <vector>

#include "grpcpp/grpcpp.h"

namespace sanhak::bench {

// `count` plaintext channels to `address`, each its own connection (distinct arguments,
// salted by `salt` so two sets never share one, and a private subchannel pool).
inline std::vector<std::shared_ptr<grpc::Channel>> Channels(const std::string& address,
                                                            int count, int salt) {
  std::vector<std::shared_ptr<grpc::Channel>> out;
  for (int i = 0; i < count; ++i) {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    args.SetInt("sanhak.bench.channel_index", salt * 100000 + i);
    out.push_back(grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args));
  }
  return out;
}

// One stub of `Service` per channel.
template <typename Service>
std::vector<std::unique_ptr<typename Service::Stub>> Stubs(
    const std::vector<std::shared_ptr<grpc::Channel>>& channels) {
  std::vector<std::unique_ptr<typename Service::Stub>> out;
  for (const auto& c : channels) out.push_back(Service::NewStub(c));
  return out;
}

}  // namespace sanhak::bench

#endif  // SANHAK_BENCH_CHANNELS_H_
