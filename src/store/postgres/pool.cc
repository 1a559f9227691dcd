#include "store/postgres/pool.h"

#include <algorithm>
#include <utility>

namespace parley::store::postgres {

ConnectionPool::Lease::~Lease() {
  if (!conn_) return;
  conn_->RollbackIfOpen();
  pool_->Release(std::move(conn_));
}

ConnectionPool::ConnectionPool(std::string conninfo, int size)
    : conninfo_(std::move(conninfo)), size_(std::max(1, size)) {}

Result<ConnectionPool::Lease> ConnectionPool::Acquire() {
  std::unique_ptr<Connection> conn;
  {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return !idle_.empty() || open_ < size_; });
    if (!idle_.empty()) {
      conn = std::move(idle_.back());
      idle_.pop_back();
    } else {
      ++open_;
    }
  }
  if (!conn) {
    Result<std::unique_ptr<Connection>> opened = Connection::Open(conninfo_);
    if (!opened.ok()) {
      {
        std::lock_guard lock(mu_);
        --open_;
      }
      cv_.notify_one();
      return std::move(opened).error();
    }
    conn = std::move(opened).value();
  } else if (conn->broken() && !conn->Reset()) {
    Release(std::move(conn));
    return MakeError(Errc::kUnavailable, "postgres: connection lost and cannot reconnect");
  }
  return Lease(this, std::move(conn));
}

void ConnectionPool::Release(std::unique_ptr<Connection> conn) {
  {
    std::lock_guard lock(mu_);
    idle_.push_back(std::move(conn));
  }
  cv_.notify_one();
}

}  // namespace parley::store::postgres
