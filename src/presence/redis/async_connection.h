#pragma once
// A hiredis async connection driven by a Boost.Asio io_context (hiredis 0.14
// ships no Asio adapter): a posix::stream_descriptor waits on the socket for
// whatever hiredis asks through addRead/delRead/addWrite/delWrite.
#include <hiredis/async.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>

namespace parley::presence::redis {

// Owns one redisAsyncContext at a time and reconnects with exponential
// backoff (50 ms doubling up to `max_backoff`) whenever it is lost, until
// Stop(). Created, used and destroyed on the io_context's one thread only;
// the callbacks run there too.
class AsyncConnection {
 public:
  struct Callbacks {
    // Connected (again): the place to send setup commands.
    std::function<void(redisAsyncContext*)> on_connect;
    // The connection is gone; pending command callbacks already ran with a
    // null reply.
    std::function<void()> on_disconnect;
    // After each read from the socket, once hiredis ran the callbacks of
    // every reply in it: lets a subscriber hand over what one read brought.
    std::function<void()> after_read;
  };

  AsyncConnection(boost::asio::io_context& ioc, std::string host, int port, std::string name,
                  Callbacks callbacks, std::chrono::milliseconds max_backoff);
  ~AsyncConnection();
  AsyncConnection(const AsyncConnection&) = delete;
  AsyncConnection& operator=(const AsyncConnection&) = delete;

  void Start();
  // Frees the context (pending callbacks run with null replies); no reconnect.
  void Stop();
  // The connected context, or null while (re)connecting.
  redisAsyncContext* context() const { return connected_ ? ac_ : nullptr; }
  const std::string& name() const { return name_; }

 private:
  struct Watcher;
  void Connect();
  void Lost();
  void AfterRead();
  static void OnConnect(const redisAsyncContext* ac, int status);
  static void OnDisconnect(const redisAsyncContext* ac, int status);

  boost::asio::io_context& ioc_;
  std::string host_;
  int port_;
  std::string name_;
  Callbacks callbacks_;
  std::chrono::milliseconds max_backoff_;
  std::chrono::milliseconds backoff_{50};
  boost::asio::steady_timer retry_;
  redisAsyncContext* ac_ = nullptr;
  std::shared_ptr<Watcher> watcher_;
  bool connected_ = false;
  bool stopped_ = true;
  bool warned_ = false;
};

}  // namespace parley::presence::redis
