#pragma once
// One serialized server frame, built once and shared by every recipient's
// write queue (a message to a group of 5,000 is one string, not 5,000).
#include <memory>
#include <string>

namespace parley::protocol {

using Frame = std::shared_ptr<const std::string>;

inline Frame MakeFrame(std::string text) { return std::make_shared<const std::string>(std::move(text)); }

}  // namespace parley::protocol
