# frozen_string_literal: true

module Dumper
  # Resolves the agent's settings. Precedence (documented in docs/gem.md):
  #   1. explicit arguments to Dumper::Agent.start / start_if
  #   2. DUMPER_* environment variables (DUMPER_APP_KEY, DUMPER_API_BASE, DUMPER_DEBUG)
  #   3. Rails credentials (dumper: {app_key:, api_base:})
  # DUMPER_DISABLED=1 (or true/yes) is a kill switch that overrides everything.
  module Config
    TRUE_WORDS = %w[1 true yes on].freeze

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

    # Returns [settings, sources] where sources names where each value came from.
    def resolve(args, env: ENV, credentials: nil)
      args = symbolize(args)
      creds = symbolize(credentials || {})
      out = {}
      sources = {}
      {app_key: "DUMPER_APP_KEY", api_base: "DUMPER_API_BASE", debug: "DUMPER_DEBUG"}.each do |key, var|
        if args.key?(key) && !args[key].nil? && args[key] != ""
          out[key] = args[key]
          sources[key] = "argument"
        elsif env[var] && !env[var].empty?
          out[key] = key == :debug ? truthy?(env[var]) : env[var]
          sources[key] = var
        elsif !creds[key].nil? && creds[key] != ""
          out[key] = creds[key]
          sources[key] = "credentials"
        end
      end
      out[:debug] = out[:debug] == true || truthy?(out[:debug])
      args.each { |k, v| out[k] = v unless out.key?(k) }
      [out, sources]
    end

    def rails_credentials
      return nil unless defined?(::Rails) && ::Rails.respond_to?(:application) && ::Rails.application
      c = ::Rails.application.credentials
      c.respond_to?(:dig) ? c.dig(:dumper) : nil
    rescue StandardError
      nil # missing or unreadable master key: credentials are optional
    end
  end
end
