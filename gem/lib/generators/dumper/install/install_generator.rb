# frozen_string_literal: true

require "rails/generators"

module Dumper
  module Generators
    # rails g dumper:install [APP_KEY]
    # Writes config/initializers/dumper.rb; never overwrites an existing one.
    class InstallGenerator < ::Rails::Generators::Base
      source_root File.expand_path("templates", __dir__)
      desc "Creates config/initializers/dumper.rb, which starts the Dumper agent."
      argument :app_key, type: :string, required: false, banner: "APP_KEY"

      INITIALIZER = "config/initializers/dumper.rb"

      def create_initializer
        if File.exist?(File.join(destination_root, INITIALIZER))
          say_status :skip, "#{INITIALIZER} exists; to re-create it, remove it first", :yellow
          return
        end
        template "dumper.rb.tt", INITIALIZER
        return if app_key
        say "No app key given: the initializer reads it from the DUMPER_APP_KEY environment variable."
        say "  export DUMPER_APP_KEY=<your app key>"
      end

      private

      def app_key_code
        app_key ? app_key.inspect : 'ENV["DUMPER_APP_KEY"]'
      end
    end
  end
end
