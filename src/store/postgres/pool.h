#pragma once
// A small blocking pool of libpq connections. Internal to the PostgreSQL
// backend.
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/result.h"
#include "store/postgres/connection.h"

namespace parley::store::postgres {

// Owns at most `size` connections to one server, opened on first need and
// lent to one thread at a time; Acquire blocks while all are lent (callers
// are blocking threads). A connection found broken is reconnected when next
// lent. Thread-safe; must outlive every Lease.
class ConnectionPool {
 public:
  // A connection lent to the calling thread; given back on destruction (an
  // open transaction, left by a failure, is rolled back first).
  class Lease {
   public:
    Lease(ConnectionPool* pool, std::unique_ptr<Connection> conn) : pool_(pool), conn_(std::move(conn)) {}
    Lease(Lease&& other) noexcept = default;
    Lease& operator=(Lease&&) = delete;
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    ~Lease();

    Connection& operator*() const { return *conn_; }
    Connection* operator->() const { return conn_.get(); }

   private:
    ConnectionPool* pool_;
    std::unique_ptr<Connection> conn_;
  };

  ConnectionPool(std::string conninfo, int size);
  ConnectionPool(const ConnectionPool&) = delete;
  ConnectionPool& operator=(const ConnectionPool&) = delete;

  // Waits for a connection; kUnavailable when a new one cannot be opened or
  // a broken one cannot be reconnected.
  Result<Lease> Acquire();

 private:
  void Release(std::unique_ptr<Connection> conn);

  const std::string conninfo_;
  const int size_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<Connection>> idle_;  // guarded by mu_
  int open_ = 0;  // connections that exist or are being opened; guarded by mu_
};

}  // namespace parley::store::postgres
