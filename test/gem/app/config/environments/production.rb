Rails.application.configure do
  config.cache_classes = true
  config.consider_all_requests_local = false
  config.secret_key_base = ENV.fetch("SECRET_KEY_BASE", "x" * 64)
  config.require_master_key = false
end
