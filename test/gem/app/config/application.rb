# A minimal Rails 6.1 app: ActiveRecord (PostgreSQL primary + SQLite "cache") and ActionController.
require_relative "boot"
require "rails"
require "active_record/railtie"
require "action_controller/railtie"
Bundler.require(*Rails.groups)

module GemFixture
  class Application < Rails::Application
    config.load_defaults 6.1
    config.eager_load = true
    config.api_only = true
    config.logger = ActiveSupport::Logger.new(File.expand_path("../log/#{Rails.env}.log", __dir__))
    config.log_level = :info
  end
end
