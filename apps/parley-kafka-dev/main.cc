// parley-kafka-dev: a Kafka cluster for tests and the local cluster, made of
// librdkafka's mock brokers (everything in memory, random loopback ports).
//
//   parley-kafka-dev --brokers 3 --topic parley.sends --partitions 4 [--bootstrap-file FILE]
//
// Starts the brokers, creates the topics, prints the bootstrap servers on one
// line of stdout (and writes them to FILE, atomically, for scripts to wait
// on), then runs until SIGTERM or SIGINT. Production points at a real Kafka.
#include <CLI/CLI.hpp>

#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "log/kafka/mock_cluster.h"

int main(int argc, char** argv) {
  CLI::App app{"parley-kafka-dev: an in-memory Kafka cluster (librdkafka mock brokers) for tests"};
  int brokers = 3;
  std::vector<std::string> topics{"parley.sends"};
  int partitions = 4;
  std::string bootstrap_file;
  app.add_option("--brokers", brokers, "number of brokers")->check(CLI::Range(1, 16));
  app.add_option("--topic", topics, "topic to create (repeatable)");
  app.add_option("--partitions", partitions, "partitions of each topic")->check(CLI::Range(1, 1024));
  app.add_option("--bootstrap-file", bootstrap_file, "write the bootstrap servers to this file");
  CLI11_PARSE(app, argc, argv);

  // Block the signals before librdkafka starts threads, so all inherit the
  // mask and sigwait below receives them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto cluster = parley::log::kafka::MockCluster::Start(brokers);
  if (!cluster.ok()) {
    std::cerr << "parley-kafka-dev: " << cluster.error().message << "\n";
    return 1;
  }
  for (const std::string& topic : topics) {
    if (auto r = (*cluster)->CreateTopic(topic, partitions); !r.ok()) {
      std::cerr << "parley-kafka-dev: " << r.error().message << "\n";
      return 1;
    }
  }
  const std::string& bootstrap = (*cluster)->bootstrap();
  if (!bootstrap_file.empty()) {
    std::string tmp = bootstrap_file + ".tmp";
    {
      std::ofstream out(tmp, std::ios::trunc);
      out << bootstrap << "\n";
      if (!out) {
        std::cerr << "parley-kafka-dev: cannot write " << tmp << "\n";
        return 1;
      }
    }
    std::error_code ec;
    std::filesystem::rename(tmp, bootstrap_file, ec);
    if (ec) {
      std::cerr << "parley-kafka-dev: cannot write " << bootstrap_file << ": " << ec.message() << "\n";
      return 1;
    }
  }
  std::cout << bootstrap << std::endl;

  int sig = 0;
  sigwait(&signals, &sig);
  std::cerr << "parley-kafka-dev: signal " << sig << ", stopping\n";
  if (!bootstrap_file.empty()) std::filesystem::remove(bootstrap_file);
  return 0;
}
