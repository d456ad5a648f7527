#include "services/analytics/change_applier.h"

#include <utility>

#include "sanhak/changes/v1/changes.pb.h"

namespace sanhak::analytics {

AppliedBatch ApplyChanges(const std::vector<ChangeEntry>& batch, ApplierState& state) {
  AppliedBatch out;
  for (const ChangeEntry& entry : batch) {
    out.acks[entry.stream].push_back(entry.entry_id);
    changes::v1::ChangeRecord record;
    if (!record.ParseFromString(entry.record) ||
        record.sequence() <= state.applied[record.service()]) {
      continue;  // unreadable, or applied before (a redelivery): only acknowledged
    }
    AppliedBatch::Update taken;
    const bool changed = state.aggregator.Apply(record, &taken.update);
    state.applied[record.service()] = record.sequence();
    out.applied[record.service()] = record.sequence();
    if (changed) out.mirror[record.resource_name()] = entry.record;
    taken.update.set_change_id(record.id());
    taken.update.set_resource_name(record.resource_name());
    for (const auto& [service, sequence] : state.applied) {
      (*taken.update.mutable_applied_sequences())[service] = sequence;
    }
    taken.useq = ++state.useq;
    taken.record = entry.record;
    out.updates.push_back(std::move(taken));
  }
  out.useq = state.useq;
  return out;
}

}  // namespace sanhak::analytics
