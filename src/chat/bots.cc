// Bots (PROTOCOL.md §8): accounts that act with an API key instead of a
// password, owned by the person who made them.
#include <limits>

#include "chat/service.h"
#include "store/errors.h"

namespace parley::chat {

Result<NewBot> Service::CreateBot(UserId owner, std::string_view username, std::string_view display_name) {
  if (auto ok = RequireActive(owner); !ok) return ok.error();
  auto me = d_.store.FindUserById(owner);
  if (!me) return me.error();
  if (me->bot) return MakeError(Errc::kForbidden, "bots cannot make bots");
  auto name = auth::FoldUsername(username);
  if (!name) return std::move(name).error();
  if (auto ok = CheckOptionalDisplayName(display_name); !ok) return ok.error();
  NewBot out;
  out.api_key = auth::NewApiKey();
  auto bot = d_.store.CreateBot(owner, *name, std::string(display_name), auth::HashToken(out.api_key),
                                kMaxBotsPerOwner, d_.clock.NowMs());
  if (!bot) return std::move(bot).error();
  out.bot = std::move(bot).value();
  return out;
}

Result<std::vector<User>> Service::Bots(UserId owner) {
  if (auto ok = RequireActive(owner); !ok) return ok.error();
  return d_.store.ListBots(owner);
}

Result<void> Service::DeleteBot(UserId owner, std::string_view username) {
  if (auto ok = RequireActive(owner); !ok) return ok.error();
  auto name = auth::FoldUsername(username);
  if (!name) return MakeError(Errc::kNotFound, "no such bot");
  auto rec = d_.store.FindUserByName(*name);
  if (!rec)
    return rec.error().code == Errc::kNotFound ? MakeError(Errc::kNotFound, "no such bot") : rec.error();
  if (rec->deleted || !rec->user.bot) return MakeError(Errc::kNotFound, "no such bot");
  if (rec->bot_owner != owner) return MakeError(Errc::kForbidden, "only its owner deletes a bot");
  {
    // This node forgets the key at once; the others refuse it by the
    // revocation Tombstone spreads (the bot is deleted, its epoch bumped).
    std::lock_guard lock(api_keys_mu_);
    std::erase_if(api_keys_, [&](const auto& kv) { return kv.second.user == rec->user.id; });
  }
  return Tombstone(rec->user.id);
}

std::optional<Result<auth::Claims>> Service::CachedApiKey(std::string_view key) {
  const std::string hash = auth::HashToken(key);
  std::lock_guard lock(api_keys_mu_);
  auto it = api_keys_.find(hash);
  if (it == api_keys_.end()) return std::nullopt;
  return Result<auth::Claims>(it->second);
}

Result<auth::Claims> Service::LoadApiKey(std::string_view key) {
  const std::string hash = auth::HashToken(key);
  auto rec = d_.store.FindUserByApiKey(hash);
  if (!rec) return std::move(rec).error();
  if (rec->deleted) return store::UnknownApiKey();
  // A key does not expire; it ends when the bot is deleted.
  auth::Claims claims{rec->user.id, rec->user.username, 0, std::numeric_limits<TimeMs>::max(),
                      rec->token_epoch};
  NoteAuthState(rec->user.id, {rec->token_epoch, false});
  std::lock_guard lock(api_keys_mu_);
  if (api_keys_.size() >= kApiKeyCacheCap) api_keys_.clear();  // only a cache: reloaded on demand
  api_keys_[hash] = claims;
  return claims;
}

}  // namespace parley::chat
