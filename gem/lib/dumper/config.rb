# frozen_string_literal: true

module Dumper
  # Resolves the agent's settings. Precedence (documented in docs/gem.md and in the initializer that
  # `rails g dumper:install` writes):
  #   1. explicit arguments to Dumper::Agent.start / start_if
  #   2. Rails credentials (dumper: {app_key:, api_base:, debug:}), where the generator stores the key
  #   3. DUMPER_* environment variables (DUMPER_APP_KEY, DUMPER_API_BASE, DUMPER_DEBUG)
  # DUMPER_DISABLED=1 (or true/yes) is a kill switch that overrides everything.
  # A key is applied where it lives: a value set at a lower level is ignored while a higher one is
  # set, and Config.shadowed names it so that the log says so (a rotated key set in DUMPER_APP_KEY
  # while the credentials still hold the old one would otherwise fail without a word).
  module Config
    TRUE_WORDS = %w[1 true yes on].freeze
    SETTINGS = {app_key: "DUMPER_APP_KEY", api_base: "DUMPER_API_BASE", debug: "DUMPER_DEBUG"}.freeze

    module_function

    # Old-style option hashes (:app_key => ..., "app_key" => ...) and keyword arguments alike.
    def symbolize(h)
      return {} if h.nil?
      h = h.to_h if !h.is_a?(Hash) && h.respond_to?(:to_h)
      h.each_with_object({}) { |(k, v), out| out[k.to_sym] = v.is_a?(Hash) ? symbolize(v) : v }
    end

    def truthy?(v)
      TRUE_WORDS.include?(v.to_s.strip.downcase)
    end

    def disabled?(env = ENV)
      truthy?(env["DUMPER_DISABLED"])
    end

    # [[value, source name], ...] for one setting, highest precedence first, unset levels left out.
    def candidates(key, args, env, creds)
      var = SETTINGS.fetch(key)
      out = []
      out << [args[key], "argument"] if given?(args[key])
      out << [creds[key], "credentials"] if given?(creds[key])
      out << [key == :debug ? truthy?(env[var]) : env[var], var] if given?(env[var])
      out
    end

    def given?(v)
      !v.nil? && v != ""
    end

    # Returns [settings, sources] where sources names where each value came from.
    def resolve(args, env: ENV, credentials: nil)
      args = symbolize(args)
      creds = symbolize(credentials || {})
      out = {}
      sources = {}
      SETTINGS.each_key do |key|
        value, source = candidates(key, args, env, creds).first
        next unless source
        out[key] = value
        sources[key] = source
      end
      out[:debug] = out[:debug] == true || truthy?(out[:debug])
      args.each { |k, v| out[k] = v unless out.key?(k) }
      [out, sources]
    end

    # Lines naming the values that are set but ignored because a higher level holds another one,
    # e.g. "DUMPER_APP_KEY is set but ignored: the app key comes from credentials (dumper.app_key)".
    # Never a value: app keys are secrets.
    def shadowed(args, env: ENV, credentials: nil)
      args = symbolize(args)
      creds = symbolize(credentials || {})
      {app_key: "the app key", api_base: "the API base"}.filter_map do |key, what|
        (used, from), *rest = candidates(key, args, env, creds)
        ignored = rest.reject { |v, _| v.to_s == used.to_s }.map { |_, name| describe(name, key) }
        next if ignored.empty?
        "#{ignored.join(' and ')} #{ignored.size == 1 ? 'is' : 'are'} set but ignored: #{what} comes from " \
          "#{describe(from, key)}, which comes first (arguments, then credentials, then environment)"
      end
    end

    def describe(source, key)
      case source
      when "argument" then "the #{key}: argument"
      when "credentials" then "credentials (dumper.#{key})"
      else source
      end
    end

    def rails_credentials
      return nil unless defined?(::Rails) && ::Rails.respond_to?(:application) && ::Rails.application
      c = ::Rails.application.credentials
      d = c.respond_to?(:dig) ? c.dig(:dumper) : nil
      d.respond_to?(:to_h) && !d.is_a?(String) ? d : nil
    rescue StandardError
      nil # missing or unreadable master key: credentials are optional
    end
  end
end
