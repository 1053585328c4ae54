# frozen_string_literal: true

# Loads the C extension: the agent library alone (libcurl and cJSON, no database client library;
# backups run in the helper executable). It is optional at load time: when it cannot load (not
# built, a system library missing at run time), Dumper.native? is false, the reason is kept in
# Dumper.native_error and Dumper::Agent.start logs it and does nothing; the app still boots.
module Dumper
  @native_error = nil
  begin
    require "dumper/dumper_ext"
  rescue LoadError => e
    @native_error = "the dumper native extension could not be loaded (#{e.message.lines.first.strip})"
  end

  class << self
    attr_reader :native_error

    def native?
      @native_error.nil? && defined?(::Dumper::Native) ? true : false
    end

    # The helper executable the agent spawns for jobs: installed next to dumper_ext.so.
    def helper_path
      return ENV["DUMPER_PATH"] if ENV["DUMPER_PATH"] && !ENV["DUMPER_PATH"].empty?
      so = $LOADED_FEATURES.find { |f| f.end_with?("/dumper/dumper_ext.so", "/dumper/dumper_ext.bundle") }
      return nil unless so
      path = File.join(File.dirname(so), "dumper")
      File.executable?(path) ? path : nil
    end
  end
end
