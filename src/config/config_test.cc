#include "config/config.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/build_info.h"
#include "config/settings.h"

namespace parley::config {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

// Runs Load with "parleyd" + args and the given environment.
Result<LoadResult> LoadWith(std::initializer_list<std::string> args,
                            std::initializer_list<std::string> env = {}) {
  std::vector<std::string> arg_store{"parleyd"};
  arg_store.insert(arg_store.end(), args.begin(), args.end());
  std::vector<const char*> argv;
  for (const auto& a : arg_store) argv.push_back(a.c_str());
  argv.push_back(nullptr);
  std::vector<std::string> env_store(env);
  std::vector<const char*> envp;
  for (const auto& e : env_store) envp.push_back(e.c_str());
  envp.push_back(nullptr);
  return Load(static_cast<int>(arg_store.size()), argv.data(), envp.data());
}

std::string ErrorOf(const Result<LoadResult>& r) {
  if (r.ok()) return "<ok>";
  EXPECT_EQ(r.error().code, Errc::kBadRequest);
  return r.error().message;
}

// A temporary TOML file, removed at the end of the test.
class TempFile {
 public:
  explicit TempFile(const std::string& text) {
    static int n = 0;
    path_ = (fs::temp_directory_path() /
             ("parley_config_test_" + std::to_string(::getpid()) + "_" + std::to_string(n++) + ".toml"))
                .string();
    std::ofstream(path_) << text;
  }
  ~TempFile() { fs::remove(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

TEST(Config, Defaults) {
  auto r = LoadWith({});
  ASSERT_TRUE(r.ok()) << r.error().message;
  const Config& c = r->config;
  EXPECT_EQ(c.gateway.host, "127.0.0.1");
  EXPECT_EQ(c.gateway.port, 8080);
  EXPECT_EQ(c.server.data_dir, "./parley-data");
  EXPECT_EQ(c.gateway.max_frame_bytes, 64 * 1024);
  EXPECT_EQ(c.auth.password_strength, "interactive");
  EXPECT_EQ(c.store.backend, StoreBackend::kSqlite);
  EXPECT_TRUE(c.store.sqlite.synchronous_full);
  // docs/configuration.md and docs/operations.md document 20, what parleyd
  // has always run with (login_throttle.h once said 10).
  EXPECT_EQ(c.chat.login_throttle.max_per_address, 20);
  EXPECT_EQ(c.chat.login_throttle.window_ms, 900'000);
  EXPECT_EQ(c.chat.max_upload_bytes, 25 * 1024 * 1024);  // PROTOCOL.md §6
  EXPECT_EQ(c.uploads.backend, UploadBackend::kFiles);
  EXPECT_FALSE(r->print_config);
  EXPECT_FALSE(r->exit_now);
}

TEST(Config, TableIsConsistent) {
  std::set<std::string> names, envs, flags;
  for (const Setting& s : Settings()) {
    EXPECT_TRUE(names.insert(s.name).second) << s.name;
    for (const auto& e : s.EnvNames()) EXPECT_TRUE(envs.insert(e).second) << e;
    for (const auto& f : s.Flags()) EXPECT_TRUE(flags.insert(f).second) << f;
    EXPECT_FALSE(s.description.empty()) << s.name;
  }
  EXPECT_EQ(Settings().size(), 76u);  // every setting docs/configuration.md lists
}

// The table has no defaults of its own: a setting's default is the
// initialiser of the module field it sets. Where several modules keep a
// copy of one setting, their initialisers must agree, or the module whose
// field the table does not read would run with another default than the
// one documented (as login_throttle.h's per-address limit once did).
TEST(Config, ModulesAgreeOnEachDefault) {
  const Config defaults;
  for (const Setting& s : Settings()) {
    ASSERT_FALSE(s.fields.empty()) << s.name;
    const SettingValue d = s.get(defaults);
    for (size_t i = 0; i < s.fields.size(); ++i) {
      EXPECT_EQ(s.fields[i](defaults), d) << s.name << ": field " << i << " has another default";
    }
  }
}

// A setting that several modules need reaches each of them.
TEST(Config, ASharedSettingReachesEveryModule) {
  auto r = LoadWith({"--node-id", "7", "--limits.heartbeat_ms", "2000", "--limits.send_rate_per_s", "3.5",
                     "--log.partitions", "6"});
  ASSERT_TRUE(r.ok()) << r.error().message;
  const Config& c = r->config;
  EXPECT_EQ(c.gateway.node_id, 7);
  EXPECT_EQ(c.sequencer.node_id, 7);
  EXPECT_EQ(c.presence.redis.node_id, 7);
  EXPECT_EQ(c.gateway.heartbeat_ms, 2000);
  EXPECT_EQ(c.presence.redis.heartbeat_ms, 2000);
  EXPECT_DOUBLE_EQ(c.chat.send_rate_per_s, 3.5);
  EXPECT_DOUBLE_EQ(c.gateway.send_rate_per_s, 3.5);
  EXPECT_EQ(c.log.embedded.partitions, 6);
  EXPECT_EQ(c.log.kafka.partitions, 6);
  for (const Setting& s : Settings()) {
    for (const auto& field : s.fields) EXPECT_EQ(field(c), s.get(c)) << s.name;
  }
}

// Web Push's settings reach push::Options, and a VAPID subject must be a
// URL a push service can use (RFC 8292).
TEST(Config, PushSettings) {
  auto r = LoadWith({"--push.vapid_subject", "https://chat.example.org/contact",
                     "--push.allow_private_addresses", "true", "--push.ttl_s", "60"});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->config.chat.push.vapid_subject, "https://chat.example.org/contact");
  EXPECT_TRUE(r->config.chat.push.allow_private_addresses);
  EXPECT_EQ(r->config.chat.push.ttl_s, 60);
  EXPECT_EQ(Config{}.chat.push.vapid_subject, "mailto:admin@localhost");
  auto bad = LoadWith({"--push.vapid_subject", "admin@example.org"});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("push.vapid_subject"), std::string::npos) << bad.error().message;
}

// Settings kept in another shape than the user writes them.
TEST(Config, ConvertedSettings) {
  auto r = LoadWith({"--auth.login_window_s", "60", "--auth.trusted_proxies", "10.0.0.1, ::1",
                     "--store.synchronous", "normal", "--store.commit_batch_max", "50",
                     "--presence.redis_address", "redis.internal:6380"});
  ASSERT_TRUE(r.ok()) << r.error().message;
  const Config& c = r->config;
  EXPECT_EQ(c.chat.login_throttle.window_ms, 60'000);
  EXPECT_EQ(c.chat.trusted_proxies, (std::vector<std::string>{"10.0.0.1", "::1"}));
  EXPECT_FALSE(c.store.sqlite.synchronous_full);
  EXPECT_EQ(c.sequencer.batch_max, 50u);
  EXPECT_EQ(c.presence.redis.host, "redis.internal");
  EXPECT_EQ(c.presence.redis.port, 6380);
  EXPECT_THAT(ToToml(c),
              AllOf(HasSubstr("login_window_s = 60\n"), HasSubstr("trusted_proxies = \"10.0.0.1,::1\"\n"),
                    HasSubstr("synchronous = \"normal\"\n")));
  EXPECT_TRUE(LoadWith({"--auth.trusted_proxies", ""}).ok());
  EXPECT_THAT(ErrorOf(LoadWith({"--auth.trusted_proxies", "10.0.0.1,,::1"})),
              HasSubstr("auth.trusted_proxies"));
  EXPECT_THAT(ErrorOf(LoadWith({"--auth.trusted_proxies", "proxy.internal"})),
              HasSubstr("auth.trusted_proxies"));
}

// admin.users (PROTOCOL.md §7): a list of usernames, each checked.
TEST(Config, AdminUsers) {
  auto r = LoadWith({"--admin.users", "root, Ops.Team"});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->config.chat.admin_users, (std::vector<std::string>{"root", "Ops.Team"}));
  EXPECT_TRUE(Load(0, nullptr, nullptr)->config.chat.admin_users.empty());
  EXPECT_THAT(ErrorOf(LoadWith({"--admin.users", "root,,ops"})), HasSubstr("admin.users"));
  EXPECT_THAT(ErrorOf(LoadWith({"--admin.users", "ro"})), HasSubstr("admin.users"));
  EXPECT_THAT(ErrorOf(LoadWith({"--admin.users", "root,bad name"})), HasSubstr("admin.users"));
}

TEST(Config, BackendsByName) {
  for (StoreBackend b : kStoreBackends) {
    auto r = LoadWith({"--store.backend", std::string(Name(b))});
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(r->config.store.backend, b);
  }
  for (LogBackend b : kLogBackends) {
    auto r = LoadWith({}, {"PARLEY_LOG_BACKEND=" + std::string(Name(b))});
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(r->config.log.backend, b);
  }
  for (UploadBackend b : kUploadBackends) {
    auto r = LoadWith({"--uploads.backend", std::string(Name(b))});
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(r->config.uploads.backend, b);
  }
  for (PresenceBackend b : kPresenceBackends) {
    TempFile f("[presence]\nbackend = \"" + std::string(Name(b)) + "\"\n");
    auto r = LoadWith({"--config", f.path()});
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(r->config.presence.backend, b);
  }
  EXPECT_THAT(ErrorOf(LoadWith({"--log.backend", "Kafka"})),
              AllOf(HasSubstr("log.backend"), HasSubstr("embedded|kafka")));
}

TEST(Config, ListenAndDataDirFlags) {
  auto r = LoadWith({"--listen", "127.0.0.1:8080", "--data-dir", "./parley-data"});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->config.gateway.host, "127.0.0.1");
  EXPECT_EQ(r->config.gateway.port, 8080);
  EXPECT_EQ(r->config.server.data_dir, "./parley-data");

  r = LoadWith({"--listen", "0.0.0.0:0", "--data-dir=/var/lib/parley", "--threads", "3", "--log-level",
                "debug", "--port-file", "/tmp/p", "--web-root", "web", "--node-id", "7", "--blocking-threads",
                "2", "--shutdown-grace-ms", "100"});
  ASSERT_TRUE(r.ok()) << r.error().message;
  const ServerConfig& s = r->config.server;
  const gateway::Options& g = r->config.gateway;
  EXPECT_EQ(g.host, "0.0.0.0");
  EXPECT_EQ(g.port, 0);
  EXPECT_EQ(s.data_dir, "/var/lib/parley");
  EXPECT_EQ(s.threads, 3);
  EXPECT_EQ(s.log_level, "debug");
  EXPECT_EQ(s.port_file, "/tmp/p");
  EXPECT_EQ(g.web_root, "web");
  EXPECT_EQ(g.node_id, 7);
  EXPECT_EQ(g.blocking_threads, 2);
  EXPECT_EQ(s.shutdown_grace_ms, 100);

  r = LoadWith(
      {"--server.listen", "[::1]:9000", "--limits.max_frame_bytes", "2048", "--limits.send_rate_per_s=2.5"});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->config.gateway.host, "::1");
  EXPECT_EQ(r->config.gateway.port, 9000);
  EXPECT_EQ(r->config.gateway.max_frame_bytes, 2048);
  EXPECT_DOUBLE_EQ(r->config.chat.send_rate_per_s, 2.5);
}

TEST(Config, FileOverridesDefaults) {
  TempFile f(R"(
listen = "10.0.0.1:9999"

[limits]
max_frame_bytes = 131072
send_rate_per_s = 5        # an integer is fine for a number
abuse_factor = 2.5

[auth]
access_ttl_s = 60
jwt_secret = "0123456789abcdef0123456789abcdef"

[store]
synchronous = "normal"

[log]
partitions = 8

[presence]
backend = "embedded"
)");
  auto r = LoadWith({"--config", f.path()});
  ASSERT_TRUE(r.ok()) << r.error().message;
  const Config& c = r->config;
  EXPECT_EQ(c.gateway.host, "10.0.0.1");
  EXPECT_EQ(c.gateway.port, 9999);
  EXPECT_EQ(c.gateway.max_frame_bytes, 131072);
  EXPECT_DOUBLE_EQ(c.chat.send_rate_per_s, 5);
  EXPECT_DOUBLE_EQ(c.gateway.abuse_factor, 2.5);
  EXPECT_EQ(c.auth.access_ttl_s, 60);
  EXPECT_EQ(c.auth.jwt_secret, "0123456789abcdef0123456789abcdef");
  EXPECT_FALSE(c.store.sqlite.synchronous_full);
  EXPECT_EQ(c.log.embedded.partitions, 8);
  EXPECT_EQ(c.server.data_dir, "./parley-data");  // untouched

  TempFile sectioned("[server]\nlisten = \"1.2.3.4:5\"\nnode_id = 9\n");
  r = LoadWith({"--config", sectioned.path()});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->config.gateway.host, "1.2.3.4");
  EXPECT_EQ(r->config.gateway.port, 5);
  EXPECT_EQ(r->config.gateway.node_id, 9);
}

TEST(Config, Precedence) {
  TempFile f("[limits]\nmax_body_bytes = 100\nsend_burst = 7\nheartbeat_ms = 2000\nlisten_typo_guard = 1\n");
  TempFile good("threads = 2\n[limits]\nmax_body_bytes = 100\nsend_burst = 7\nheartbeat_ms = 2000\n");
  // File alone.
  auto r = LoadWith({"--config", good.path()});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->config.chat.max_body_bytes, 100);
  // Env overrides file.
  r = LoadWith({"--config", good.path()}, {"PARLEY_LIMITS_MAX_BODY_BYTES=200", "PARLEY_LIMITS_SEND_BURST=8",
                                           "PARLEY_THREADS=5", "HOME=/root"});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->config.chat.max_body_bytes, 200);
  EXPECT_EQ(r->config.chat.send_burst, 8);
  EXPECT_EQ(r->config.gateway.heartbeat_ms, 2000);
  EXPECT_EQ(r->config.server.threads, 5);
  // Flag overrides env, whatever the order on the command line.
  r = LoadWith({"--limits.max_body_bytes", "300", "--config", good.path(), "--threads", "6"},
               {"PARLEY_LIMITS_MAX_BODY_BYTES=200", "PARLEY_SERVER_THREADS=5"});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->config.chat.max_body_bytes, 300);
  EXPECT_EQ(r->config.chat.send_burst, 7);
  EXPECT_EQ(r->config.server.threads, 6);
  // A repeated flag: the last one wins.
  r = LoadWith({"--threads", "1", "--threads", "2"});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->config.server.threads, 2);
}

TEST(Config, ShortAndLongServerEnvNames) {
  auto r = LoadWith({}, {"PARLEY_LISTEN=1.1.1.1:1", "PARLEY_DATA_DIR=/d", "PARLEY_SERVER_NODE_ID=3"});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->config.gateway.host, "1.1.1.1");
  EXPECT_EQ(r->config.server.data_dir, "/d");
  EXPECT_EQ(r->config.gateway.node_id, 3);
  // Both names, same value: fine; different values: ambiguous.
  EXPECT_TRUE(LoadWith({}, {"PARLEY_LISTEN=1.1.1.1:1", "PARLEY_SERVER_LISTEN=1.1.1.1:1"}).ok());
  EXPECT_THAT(ErrorOf(LoadWith({}, {"PARLEY_LISTEN=1.1.1.1:1", "PARLEY_SERVER_LISTEN=1.1.1.1:2"})),
              HasSubstr("server.listen"));
}

TEST(Config, UnknownFileKeyFails) {
  TempFile f("[limits]\nmax_frame = 100\n");
  EXPECT_THAT(
      ErrorOf(LoadWith({"--config", f.path()})),
      AllOf(HasSubstr("unknown key limits.max_frame"), HasSubstr("did you mean limits.max_frame_bytes?")));
  TempFile top("lissten = \"1.2.3.4:5\"\n");
  EXPECT_THAT(ErrorOf(LoadWith({"--config", top.path()})), HasSubstr("unknown key lissten"));
  TempFile nested("[presence]\nbackend = \"embedded\"\nredis_url = \"x\"\n");
  EXPECT_THAT(ErrorOf(LoadWith({"--config", nested.path()})), HasSubstr("unknown key presence.redis_url"));
}

TEST(Config, UnknownSectionFails) {
  TempFile f("[limitz]\nmax_frame_bytes = 100\n");
  EXPECT_THAT(ErrorOf(LoadWith({"--config", f.path()})), HasSubstr("unknown section [limitz]"));
  TempFile dotted("[server.tls]\ncert = \"x\"\n");
  EXPECT_THAT(ErrorOf(LoadWith({"--config", dotted.path()})), HasSubstr("server.tls"));
  TempFile not_table("limits = 5\n");
  EXPECT_THAT(ErrorOf(LoadWith({"--config", not_table.path()})), HasSubstr("[limits]"));
}

TEST(Config, BadFileFails) {
  EXPECT_THAT(ErrorOf(LoadWith({"--config", "/nonexistent/parley.toml"})),
              HasSubstr("/nonexistent/parley.toml"));
  TempFile f("[limits\nmax_frame_bytes = \n");
  EXPECT_THAT(ErrorOf(LoadWith({"--config", f.path()})), HasSubstr("not valid TOML"));
  TempFile dup("listen = \"1.2.3.4:5\"\n[server]\nlisten = \"1.2.3.4:6\"\n");
  EXPECT_THAT(ErrorOf(LoadWith({"--config", dup.path()})), HasSubstr("set twice"));
}

// Found by fuzz/config_fuzz (corpus: fuzz/corpus/config/crash-toml11-ml-literal-utf8): toml11
// 3.7.1 read out of bounds reporting invalid UTF-8 in a ''' string. Files
// must be UTF-8; the loader says so, with the line, before toml11 parses.
TEST(Config, InvalidUtf8FileFails) {
  TempFile ml(
      "[server]\nweb_root = '''\nmulti\nl\xff\xff"
      "ine'''\n");
  EXPECT_THAT(ErrorOf(LoadWith({"--config", ml.path()})), HasSubstr("invalid UTF-8 on line 4"));
  TempFile cut("data_dir = \"caf\xc3\"\n");  // a 2-byte character without its second byte
  EXPECT_THAT(ErrorOf(LoadWith({"--config", cut.path()})), HasSubstr("invalid UTF-8 on line 1"));
  TempFile surrogate("threads = 2\n# \xed\xa0\x80\n");
  EXPECT_THAT(ErrorOf(LoadWith({"--config", surrogate.path()})), HasSubstr("invalid UTF-8 on line 2"));
  TempFile good(
      "# caf\xc3\xa9 \xe2\x98\xba \xf0\x9f\x98\x80\nweb_root = '''w\xc3\xa9"
      "b'''\n");
  auto r = LoadWith({"--config", good.path()});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->config.gateway.web_root,
            "w\xc3\xa9"
            "b");
}

// Found by fuzz/config_fuzz (corpus: fuzz/corpus/config/crash-env-listen-utf8):
// a string setting from the environment with a byte that is not UTF-8 was
// accepted (PARLEY_LISTEN=[\xdb::1]:8080), and --print-config then wrote a
// file that did not load. Every string setting from every source is now
// refused unless it is UTF-8, with a message naming the source (and not
// repeating the bytes).
TEST(Config, InvalidUtf8StringFailsFromEverySource) {
  TempFile f("[store]\nsynchronous = \"normal\"\n");
  const std::initializer_list<std::string> flags = {
      "--config", f.path(), "--limits.max_body_bytes", "8192", "--log-level=debug", "--print-config"};
  std::string e = ErrorOf(LoadWith(flags, {"PARLEY_LIMITS_SEND_BURST=10", "PARLEY_LISTEN=[\xdb::1]:8080"}));
  EXPECT_THAT(e, AllOf(HasSubstr("server.listen (from environment PARLEY_LISTEN) is not valid UTF-8"),
                       HasSubstr("byte 2")));
  EXPECT_EQ(e.find('\xdb'), std::string::npos) << "the bad byte is not echoed";
  // The same run with a good address loads, and what it prints loads back.
  auto r = LoadWith(flags, {"PARLEY_LIMITS_SEND_BURST=10", "PARLEY_LISTEN=[::1]:8080"});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_TRUE(r->print_config);
  TempFile printed(ToToml(r->config));
  auto back = LoadWith({"--config", printed.path()});
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(ToToml(back->config), ToToml(r->config));

  EXPECT_THAT(ErrorOf(LoadWith({"--web-root=/srv/w\xc3"})),
              HasSubstr("server.web_root (from flag --web-root) is not valid UTF-8"));
  EXPECT_THAT(ErrorOf(LoadWith({}, {"PARLEY_DATA_DIR=/d\xed\xa0\x80"})),  // a surrogate
              HasSubstr("server.data_dir (from environment PARLEY_DATA_DIR) is not valid UTF-8"));
  EXPECT_THAT(ErrorOf(LoadWith({"--auth.jwt_secret=0123456789abcdef0123456789abcde\xff"})),
              HasSubstr("auth.jwt_secret (from flag --auth.jwt_secret) is not valid UTF-8"));
  TempFile file("web_root = \"w\xc0\xaf\"\n");  // an overlong '/'
  EXPECT_THAT(ErrorOf(LoadWith({"--config", file.path()})), HasSubstr("invalid UTF-8 on line 1"));
  // \u00e9 is U+00E9 in UTF-8 (C3 A9), U+1F600 four bytes.
  auto good = LoadWith({"--web-root=/srv/donn\u00e9es"}, {"PARLEY_DATA_DIR=/d/\U0001F600"});
  ASSERT_TRUE(good.ok()) << good.error().message;
  EXPECT_EQ(good->config.gateway.web_root,
            "/srv/donn\xc3\xa9"
            "es");
}

// Whatever --print-config writes loads back to the same configuration:
// strings with quotes, escapes and non-ASCII text, addresses of every form,
// lists, converted units, backends, values from every source.
TEST(Config, PrintedConfigLoadsBackTheSame) {
  TempFile file(
      "listen = \"[::ffff:10.0.0.1]:0\"\n[auth]\nissuer = \"https://id.example/\\\"realm\\\"\\t\\u00e9\"\n"
      "[log]\nkafka_brokers = \"k1:9092,k2:9092\"\n");
  const std::vector<std::vector<std::string>> runs = {
      {},
      {"--config", file.path()},
      {"--config",
       file.path(),
       "--listen",
       "parley-1.internal:8443",
       "--web-root",
       "/srv/web \xe2\x98\xba",
       "--auth.trusted_proxies",
       " 10.0.0.5 ,2001:db8::1",
       "--auth.login_window_s",
       "86400",
       "--store.backend",
       "postgres",
       "--store.postgres_url",
       "host=db user=parley",
       "--log.backend",
       "kafka",
       "--presence.backend",
       "redis",
       "--presence.redis_address",
       "[::1]:6379",
       "--limits.send_rate_per_s",
       "0.01",
       "--limits.abuse_factor",
       "1000",
       "--store.commit_batch_max",
       "100000",
       "--node-id",
       "1023"},
  };
  for (const auto& args : runs) {
    std::vector<const char*> argv{"parleyd"};
    for (const auto& a : args) argv.push_back(a.c_str());
    argv.push_back(nullptr);
    const char* envp[] = {"PARLEY_PORT_FILE=/run/parley/port \xc3\xa9", nullptr};
    auto r = Load(static_cast<int>(argv.size() - 1), argv.data(), envp);
    ASSERT_TRUE(r.ok()) << r.error().message;
    Config c = r->config;
    c.store.postgres.conninfo.clear();  // secrets are masked in the output
    const std::string printed = ToToml(c);
    TempFile f(printed);
    auto back = LoadWith({"--config", f.path()});
    ASSERT_TRUE(back.ok()) << back.error().message << "\n" << printed;
    EXPECT_EQ(ToToml(back->config), printed);
    for (const Setting& s : Settings()) EXPECT_EQ(s.get(back->config), s.get(c)) << s.name;
  }
}

TEST(Config, UnknownEnvFails) {
  EXPECT_THAT(ErrorOf(LoadWith({}, {"PARLEY_LIMITS_MAX_FRAME=1"})),
              AllOf(HasSubstr("PARLEY_LIMITS_MAX_FRAME"), HasSubstr("PARLEY_LIMITS_MAX_FRAME_BYTES")));
  EXPECT_THAT(ErrorOf(LoadWith({}, {"PARLEY_LISTN=1.2.3.4:5"})), HasSubstr("PARLEY_LISTN"));
  // Other variables are none of our business.
  EXPECT_TRUE(LoadWith({}, {"PATH=/bin", "PARLEYX=1", "MY_PARLEY_LISTEN=x"}).ok());
}

TEST(Config, UnknownFlagFails) {
  EXPECT_THAT(ErrorOf(LoadWith({"--limits.max_frame", "1"})), HasSubstr("--limits.max_frame"));
  EXPECT_THAT(ErrorOf(LoadWith({"--listen-addr", "1.2.3.4:5"})), HasSubstr("--listen-addr"));
  EXPECT_FALSE(LoadWith({"positional"}).ok());
  EXPECT_FALSE(LoadWith({"--listen"}).ok());  // missing value
}

TEST(Config, BoundsFail) {
  auto e = ErrorOf(LoadWith({"--limits.max_frame_bytes", "10"}));
  EXPECT_THAT(e, AllOf(HasSubstr("limits.max_frame_bytes"), HasSubstr("10"), HasSubstr("[1024, 67108864]"),
                       HasSubstr("--limits.max_frame_bytes")));
  EXPECT_THAT(ErrorOf(LoadWith({}, {"PARLEY_NODE_ID=1024"})),
              AllOf(HasSubstr("server.node_id = 1024"), HasSubstr("[1, 1023]"), HasSubstr("PARLEY_NODE_ID")));
  EXPECT_THAT(ErrorOf(LoadWith({"--node-id=0"})), HasSubstr("[1, 1023]"));
  EXPECT_TRUE(LoadWith({"--node-id=1023"}).ok());
  EXPECT_TRUE(LoadWith({"--node-id=1"}).ok());
  EXPECT_THAT(ErrorOf(LoadWith({"--limits.abuse_factor=0.5"})), HasSubstr("limits.abuse_factor = 0.5"));
  EXPECT_THAT(ErrorOf(LoadWith({"--limits.send_rate_per_s=inf"})), HasSubstr("limits.send_rate_per_s"));
  EXPECT_THAT(ErrorOf(LoadWith({"--limits.send_rate_per_s=nan"})), HasSubstr("limits.send_rate_per_s"));
  EXPECT_THAT(ErrorOf(LoadWith({"--threads=-1"})), HasSubstr("[0, 1024]"));
  // int fields reject values beyond int even where int64 parses them.
  EXPECT_FALSE(LoadWith({"--limits.max_connections=99999999999"}).ok());
  EXPECT_FALSE(LoadWith({"--limits.max_connections=999999999999999999999999"}).ok());
  TempFile f("[limits]\nmax_frame_bytes = 1\n[log]\npartitions = 0\n");
  e = ErrorOf(LoadWith({"--config", f.path()}));
  // Every problem is reported, not just the first.
  EXPECT_THAT(e, AllOf(HasSubstr("limits.max_frame_bytes = 1"), HasSubstr("log.partitions = 0")));
}

TEST(Config, AllowedValues) {
  EXPECT_THAT(ErrorOf(LoadWith({"--log-level", "loud"})),
              AllOf(HasSubstr("server.log_level = \"loud\""), HasSubstr("trace|debug|info|warn|error|off")));
  EXPECT_THAT(ErrorOf(LoadWith({}, {"PARLEY_AUTH_PASSWORD_STRENGTH=weak"})),
              HasSubstr("auth.password_strength"));
  EXPECT_THAT(ErrorOf(LoadWith({"--store.backend", "cassandra"})), HasSubstr("store.backend"));
  EXPECT_TRUE(LoadWith({"--auth.password_strength", "min"}).ok());
}

// The listen address is parsed as an address when the configuration loads,
// not when the socket binds: an IPv4 address, a bracketed IPv6 address or a
// host name, and a port.
TEST(Config, ListenValidation) {
  for (const char* good :
       {"127.0.0.1:8080", "0.0.0.0:0", "localhost:65535", "[::1]:80", "[::]:0", "[::ffff:10.0.0.1]:80",
        "example.com:443", "parley-1.internal:8080", "LOCALHOST:1", "a.b.c.d.example:1"}) {
    auto r = LoadWith({"--listen", good});
    ASSERT_TRUE(r.ok()) << good << ": " << r.error().message;
    EXPECT_THAT(ToToml(r->config), HasSubstr(std::string("listen = \"") + good + "\""));
  }
  for (const char* bad :
       {"127.0.0.1",      "127.0.0.1:",      ":8080",        "127.0.0.1:65536", "127.0.0.1:-1",
        "::1:80",         "127.0.0.1:80x",   "host:123456",  "[::1:80",         "a b:80",
        "[::g]:80",       "[1.2.3.4]:80",    "300.1.1.1:80", "1.2.3:80",        "-bad.example:80",
        "a..b:80",        "exa_mple.com:80", "host.:80",     "[]:80",           "127.0.0.1:+80",
        "caf\xc3\xa9:80", "http://h:80"}) {
    auto r = LoadWith({std::string("--listen=") + bad});
    EXPECT_THAT(ErrorOf(r), AllOf(HasSubstr("server.listen"), HasSubstr("host:port"))) << bad;
  }
  EXPECT_THAT(ErrorOf(LoadWith({"--listen=[::1]:99999"})), HasSubstr("port is not 0..65535"));
  EXPECT_THAT(ErrorOf(LoadWith({"--listen=[::1x]:80"})), HasSubstr("[::1x] is not an IPv6 address"));
  EXPECT_THAT(ErrorOf(LoadWith({"--listen=1.2.3.256:80"})), HasSubstr("1.2.3.256 is not an IPv4 address"));
  EXPECT_THAT(ErrorOf(LoadWith({"--listen=::1:80"})), HasSubstr("bracket IPv6 addresses"));
  // The Redis address follows the same rules.
  EXPECT_TRUE(LoadWith({"--presence.redis_address=[::1]:6379"}).ok());
  EXPECT_THAT(ErrorOf(LoadWith({"--presence.redis_address=redis"})),
              AllOf(HasSubstr("presence.redis_address"), HasSubstr("host:port")));
}

TEST(Config, WrongTypesFail) {
  TempFile f("[limits]\nmax_frame_bytes = \"big\"\n");
  EXPECT_THAT(
      ErrorOf(LoadWith({"--config", f.path()})),
      AllOf(HasSubstr("limits.max_frame_bytes"), HasSubstr("must be an integer"), HasSubstr("\"big\"")));
  TempFile g("[limits]\nsend_burst = 1.5\n");
  EXPECT_THAT(ErrorOf(LoadWith({"--config", g.path()})), HasSubstr("limits.send_burst"));
  TempFile h("listen = 8080\n");
  EXPECT_THAT(ErrorOf(LoadWith({"--config", h.path()})),
              AllOf(HasSubstr("server.listen"), HasSubstr("a string")));
  TempFile b("[log]\npartitions = true\n");
  EXPECT_THAT(ErrorOf(LoadWith({"--config", b.path()})), HasSubstr("log.partitions"));
  EXPECT_THAT(ErrorOf(LoadWith({"--threads", "two"})),
              AllOf(HasSubstr("server.threads"), HasSubstr("\"two\"")));
  EXPECT_THAT(ErrorOf(LoadWith({}, {"PARLEY_THREADS=2 "})), HasSubstr("server.threads"));
  EXPECT_THAT(ErrorOf(LoadWith({}, {"PARLEY_THREADS="})), HasSubstr("server.threads"));
  EXPECT_THAT(ErrorOf(LoadWith({"--limits.send_rate_per_s", "fast"})), HasSubstr("limits.send_rate_per_s"));
}

TEST(Config, SecretIsCheckedAndNeverEchoed) {
  const std::string short_secret = "tooshort-secret";
  auto e = ErrorOf(LoadWith({"--auth.jwt_secret", short_secret}));
  EXPECT_THAT(e, HasSubstr("auth.jwt_secret"));
  EXPECT_THAT(e, ::testing::Not(HasSubstr(short_secret)));
  TempFile f("[auth]\njwt_secret = 12345\n");
  EXPECT_THAT(ErrorOf(LoadWith({"--config", f.path()})), ::testing::Not(HasSubstr("12345")));
}

TEST(Config, ToTomlRoundTrip) {
  Config c;
  c.gateway.host = "::1";
  c.gateway.port = 0;
  c.gateway.web_root = "/srv/web \"quoted\" \\ back\tslash caf\u00e9";
  c.gateway.node_id = 17;
  c.chat.send_rate_per_s = 12.25;
  c.gateway.abuse_factor = 3;
  c.gateway.max_queue_bytes = 1 << 20;
  c.auth.password_strength = "min";
  c.chat.trusted_proxies = {"10.0.0.1", "::1"};
  c.chat.login_throttle.window_ms = 60'000;
  c.store.backend = StoreBackend::kPostgres;
  c.store.sqlite.synchronous_full = false;
  c.log.backend = LogBackend::kKafka;
  c.log.embedded.partitions = 2;
  c.presence.backend = PresenceBackend::kRedis;
  c.presence.redis.host = "redis.internal";
  const std::string toml = ToToml(c);
  for (const Setting& s : Settings()) {
    EXPECT_THAT(toml, HasSubstr("\n" + s.key + " = ")) << s.name;
  }
  TempFile f(toml);
  auto r = LoadWith({"--config", f.path()});
  ASSERT_TRUE(r.ok()) << r.error().message << "\n" << toml;
  EXPECT_EQ(ToToml(r->config), toml);
  EXPECT_EQ(r->config.gateway.web_root, c.gateway.web_root);
  EXPECT_DOUBLE_EQ(r->config.gateway.abuse_factor, 3);
  EXPECT_EQ(r->config.gateway.node_id, 17);
  EXPECT_EQ(r->config.chat.trusted_proxies, c.chat.trusted_proxies);
  EXPECT_EQ(r->config.store.backend, StoreBackend::kPostgres);
  EXPECT_EQ(r->config.presence.redis.host, "redis.internal");

  // Defaults round-trip too, so every default is within its own bounds.
  TempFile d(ToToml(Config{}));
  r = LoadWith({"--config", d.path()});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(ToToml(r->config), ToToml(Config{}));
}

TEST(Config, ToTomlMasksSecret) {
  Config c;
  EXPECT_THAT(ToToml(c), HasSubstr("jwt_secret = \"\"\n"));
  c.auth.jwt_secret = "0123456789abcdef0123456789abcdef-very-secret";
  const std::string toml = ToToml(c);
  EXPECT_THAT(toml, HasSubstr("jwt_secret = \"***\"\n"));
  EXPECT_THAT(toml, ::testing::Not(HasSubstr("very-secret")));
  // Read back, the mask is refused rather than taken for a secret.
  TempFile f(toml);
  EXPECT_THAT(ErrorOf(LoadWith({"--config", f.path()})), HasSubstr("auth.jwt_secret"));
}

TEST(Config, PrintConfigHelpVersion) {
  auto r = LoadWith({"--print-config", "--threads", "2"});
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->print_config);
  EXPECT_FALSE(r->exit_now);
  EXPECT_EQ(r->config.server.threads, 2);

  ::testing::internal::CaptureStdout();
  r = LoadWith({"--help"});
  std::string out = ::testing::internal::GetCapturedStdout();
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->exit_now);
  EXPECT_THAT(out,
              AllOf(HasSubstr("--listen"), HasSubstr("--data-dir"), HasSubstr("--limits.max_frame_bytes"),
                    HasSubstr("PARLEY_LIMITS_MAX_FRAME_BYTES"), HasSubstr("--config")));

  ::testing::internal::CaptureStdout();
  r = LoadWith({"--version"});
  out = ::testing::internal::GetCapturedStdout();
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->exit_now);
  // The configured project version and the commit (or "unknown"), as the
  // build_info metric reports them.
  EXPECT_THAT(out, HasSubstr("parleyd " PARLEY_VERSION " (commit " PARLEY_COMMIT ")"));
}

TEST(Config, EmptyArgvAndEnvAreDefaults) {
  auto r = Load(0, nullptr, nullptr);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(ToToml(r->config), ToToml(Config{}));
}

#ifdef PARLEY_SOURCE_DIR
TEST(Config, DocsListEverySetting) {
  std::ifstream in(std::string(PARLEY_SOURCE_DIR) + "/docs/configuration.md");
  ASSERT_TRUE(in) << "docs/configuration.md missing";
  std::stringstream buf;
  buf << in.rdbuf();
  const std::string doc = buf.str();
  for (const Setting& s : Settings()) {
    EXPECT_THAT(doc, HasSubstr("`" + s.name + "`"));
    for (const auto& e : s.EnvNames()) EXPECT_THAT(doc, HasSubstr(e));
    for (const auto& f : s.Flags()) EXPECT_THAT(doc, HasSubstr(f));
    // Its row: | `name` | env | flags | `default` | bounds | meaning |
    const size_t row = doc.find("\n| `" + s.name + "` |");
    ASSERT_NE(row, std::string::npos) << s.name;
    std::vector<std::string> cells;
    std::stringstream line(doc.substr(row + 1, doc.find('\n', row + 1) - row - 1));
    for (std::string cell; std::getline(line, cell, '|');) cells.push_back(cell);
    ASSERT_GE(cells.size(), 5u) << s.name;
    EXPECT_EQ(cells[4], " `" + FormatToml(s.get(Config{})) + "` ") << s.name << ": the documented default";
  }
}
#endif

}  // namespace
}  // namespace parley::config
