#pragma once
// One named logger per module, sharing the default sink and level:
// a disconnect is info, an auth failure a warning, anything unexpected an
// error with context.
#include <memory>
#include <string>

#include <spdlog/spdlog.h>

namespace parley {

inline std::shared_ptr<spdlog::logger> Logger(const std::string& name) {
  if (auto existing = spdlog::get(name)) return existing;
  auto logger = spdlog::default_logger()->clone(name);
  spdlog::register_logger(logger);
  return logger;
}

}  // namespace parley
