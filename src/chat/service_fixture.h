#pragma once
// For tests: a chat::Service over a real SQLite store in a temporary
// directory, the embedded log and presence, and the sequencer driven by
// hand. service_test and client_session_test build on it; each gives the
// sink that fan-out delivers to and the options the service runs with.
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "chat/service.h"
#include "log/embedded/embedded_log.h"
#include "fanout/local_fanout.h"
#include "presence/embedded/embedded_presence.h"
#include "sequencer/sequencer.h"
#include "store/sqlite/sqlite_store.h"
#include "uploads/file_blob_store.h"

namespace parley::chat {

// A fan-out sink that records every event published, for tests to read.
class RecordingSink : public fanout::DeliverySink {
 public:
  void Deliver(std::shared_ptr<const fanout::EventBatch> batch) override {
    for (const auto& e : *batch) events.push_back(e);
  }
  // The frames of `type` delivered to a target, parsed.
  std::vector<boost::json::object> Frames(std::string_view type) const {
    std::vector<boost::json::object> out;
    for (const auto& e : events) {
      if (!e.frame) continue;
      auto v = boost::json::parse(*e.frame).as_object();
      if (v["type"].is_string() && v["type"].get_string() == type) out.push_back(v);
    }
    return out;
  }
  std::vector<fanout::Event> events;
};

class ServiceFixture : public ::testing::Test {
 protected:
  // Builds the service; `sink` receives every published batch.
  void StartService(fanout::DeliverySink& sink, Options options) {
    dir_ = std::filesystem::temp_directory_path() /
           ("parley-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    store_ = std::move(store::sqlite::Open({.path = (dir_ / "t.db").string()})).value();
    log_ = log::embedded::Create({.partitions = 2});
    registry_ = presence::embedded::CreateRegistry();
    fanout_ = fanout::CreateLocal();
    fanout_->SetSink(&sink);
    blobs_ = std::move(uploads::OpenFileBlobStore((dir_ / "uploads").string())).value();
    service_ = std::make_unique<Service>(FixtureDeps(), options);
    sequencer_ =
        std::make_unique<sequencer::Sequencer>(*log_, *store_, *fanout_, clock_, sequencer::Options{});
  }
  // What service_ is made of: the fixture's store, log, fan-out, presence,
  // tokens, clock and uploads. A test makes further services from it.
  Deps FixtureDeps() {
    return Deps{.store = *store_,
                .log = *log_,
                .fanout = *fanout_,
                .presence = *registry_,
                .tokens = tokens_,
                .hasher = hasher_,
                .clock = clock_,
                .blobs = blobs_.get(),
                .url_signer = &url_signer_};
  }
  void TearDown() override {
    sequencer_.reset();
    service_.reset();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  AuthSession Register(const std::string& name) {
    auto s = service_->Register(name, "password1", "");
    EXPECT_TRUE(s) << s.error().message;
    return std::move(s).value();
  }
  // Commits everything appended so far, publishing its answers and events.
  void Drain() {
    while (sequencer_->RunOnce(std::chrono::milliseconds(0)) > 0) {
    }
  }

  std::filesystem::path dir_;
  ManualClock clock_;
  auth::TokenIssuer tokens_{std::string(64, 'k'), 900, clock_};
  auth::PasswordHasher hasher_{auth::PasswordStrength::kMin};
  uploads::UrlSigner url_signer_{std::string(64, 'k')};
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<uploads::BlobStore> blobs_;
  std::unique_ptr<log::MessageLog> log_;
  std::unique_ptr<presence::PresenceRegistry> registry_;
  std::unique_ptr<fanout::FanOut> fanout_;
  std::unique_ptr<Service> service_;
  std::unique_ptr<sequencer::Sequencer> sequencer_;
};

}  // namespace parley::chat
