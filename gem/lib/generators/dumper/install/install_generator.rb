# frozen_string_literal: true

require "json"
require "yaml"
require "rails/generators"

module Dumper
  module Generators
    # rails g dumper:install [APP_KEY] [--api-base URL] [--force]
    #
    # Writes config/initializers/dumper.rb (kept if it exists, re-created with --force), which holds
    # no key: the app key can download every backup of the app, so it never goes into a file that is
    # committed in plain text. With a master key (config/master.key or RAILS_MASTER_KEY) the key is
    # stored in the encrypted credentials, config/credentials.yml.enc, as dumper.app_key (through
    # ActiveSupport::EncryptedConfiguration, the API behind `rails credentials:edit`; the rest of the
    # file is kept as it is, comments included); a rerun with another key replaces it there, which is
    # how a rotated key is applied. Without a master key nothing is written and the generator says
    # how to set DUMPER_APP_KEY. The key is never printed.
    class InstallGenerator < ::Rails::Generators::Base
      source_root File.expand_path("templates", __dir__)
      desc "Creates config/initializers/dumper.rb, which starts the Dumper agent, and stores the app key " \
           "in the encrypted Rails credentials (dumper.app_key) when the app has a master key."
      argument :app_key, type: :string, required: false, banner: "APP_KEY"
      class_option :api_base, type: :string, banner: "URL",
                              desc: "dumperd's address, written into the initializer (without it: credentials dumper.api_base, then DUMPER_API_BASE, then http://127.0.0.1:8477)"

      INITIALIZER = "config/initializers/dumper.rb"
      CREDENTIALS = "config/credentials.yml.enc"
      MASTER_KEY = "config/master.key"
      MASTER_KEY_ENV = "RAILS_MASTER_KEY"

      def check_arguments
        if app_key && !(app_key.match?(/\A[\x21-\x7e]+\z/) && app_key.size <= 256)
          raise Thor::Error, "dumper: the app key must be 1 to 256 printable characters without spaces " \
                             "(as `dumperd app create` prints it)"
        end
        url = options[:api_base]
        return if url.nil?
        return if url.match?(%r{\Ahttps?://[\x21-\x7e]+\z}) && !url.include?("@") && !url.match?(/["'\\]/)
        raise Thor::Error, "dumper: --api-base must be an http:// or https:// URL without credentials"
      end

      def create_initializer
        if behavior == :invoke && File.exist?(File.join(destination_root, INITIALIZER)) && !options[:force]
          say_status :skip, "#{INITIALIZER} exists; run with --force to re-create it", :yellow
          return
        end
        template "dumper.rb.tt", INITIALIZER
      end

      def store_app_key
        if behavior == :revoke
          say "dumper.app_key, if the credentials hold one, is left there (remove it with bin/rails credentials:edit)."
          return
        end
        return say_no_key unless app_key
        source = master_key_source
        return say_no_master_key unless source
        write_credentials(source)
      end

      private

      # The initializer's arguments: only what was given on the command line, never the key.
      def start_args
        options[:api_base] ? "(api_base: #{options[:api_base].inspect})" : ""
      end

      def master_key_source
        return MASTER_KEY_ENV unless ENV[MASTER_KEY_ENV].to_s.empty?
        path = File.join(destination_root, MASTER_KEY)
        File.file?(path) && !File.read(path).strip.empty? ? MASTER_KEY : nil
      end

      def encrypted_credentials
        require "active_support/encrypted_configuration"
        ActiveSupport::EncryptedConfiguration.new(
          config_path: File.join(destination_root, CREDENTIALS), key_path: File.join(destination_root, MASTER_KEY),
          env_key: MASTER_KEY_ENV, raise_if_missing_key: true
        )
      end

      def write_credentials(source)
        creds = encrypted_credentials
        exists = File.exist?(File.join(destination_root, CREDENTIALS))
        old = exists ? creds.read : ""
        new = CredentialsText.with_app_key(old, app_key)
        if new.nil?
          return say_cannot_store("its dumper: entry is not a mapping this generator can edit; add app_key under " \
                                  "it with bin/rails credentials:edit")
        end
        if new == old
          say_status :identical, "#{CREDENTIALS} (dumper.app_key)", :blue
        else
          creds.write(new) unless options[:pretend]
          say_status exists ? :update : :create, "#{CREDENTIALS} (dumper.app_key, encrypted with #{source})", :green
        end
        say_per_environment_credentials
        say_master_key_not_ignored if source == MASTER_KEY
      rescue ActiveSupport::MessageEncryptor::InvalidMessage, ActiveSupport::EncryptedFile::InvalidKeyLengthError
        say_cannot_store("it cannot be decrypted with the master key from #{source}")
      end

      def say_cannot_store(why)
        say_status :error, "#{CREDENTIALS}: the app key was not stored: #{why}", :red
        say "The key was not written anywhere. Until it is in the credentials, set DUMPER_APP_KEY (see docs/gem.md)."
      end

      def say_no_key
        say "No app key given: the agent reads it from the Rails credentials (dumper: {app_key: ...}, " \
            "bin/rails credentials:edit), else from the DUMPER_APP_KEY environment variable."
      end

      def say_no_master_key
        say <<~TEXT
          This app has no master key (#{MASTER_KEY} or #{MASTER_KEY_ENV}), so the app key was not stored:
          it is not written in any file. Give it to the app's server and worker processes in the
          DUMPER_APP_KEY environment variable, where they start, e.g.:
            export DUMPER_APP_KEY=<the app key>         (a shell or a script that starts the server)
            Environment=DUMPER_APP_KEY=<the app key>    (a systemd unit, [Service]; or EnvironmentFile=, mode 0600)
          and restart them. To keep it in the encrypted credentials instead: bin/rails credentials:edit
          (creates #{MASTER_KEY}; keep that file out of git), then run this generator again with the key.
        TEXT
      end

      # Environments with a credentials file of their own read that file, not config/credentials.yml.enc.
      def say_per_environment_credentials
        envs = Dir[File.join(destination_root, "config/credentials/*.yml.enc")].map { |f| File.basename(f, ".yml.enc") }.sort
        return if envs.empty?
        say_status :warning, "#{envs.join(', ')} #{envs.size == 1 ? 'has' : 'have'} credentials of its own " \
                             "(config/credentials/): add dumper: {app_key: ...} there too with " \
                             "bin/rails credentials:edit --environment NAME, or set DUMPER_APP_KEY", :yellow
      end

      def say_master_key_not_ignored
        ignore = File.join(destination_root, ".gitignore")
        return unless File.file?(ignore) && !File.read(ignore).include?("master.key")
        say_status :warning, ".gitignore does not list #{MASTER_KEY}: a committed master key decrypts the credentials", :yellow
      end
    end

    # Edits the plaintext YAML of the credentials as text, so that everything else in it (comments,
    # order, other keys) stays byte for byte; the result is checked by parsing it.
    module CredentialsText
      module_function

      # The text with dumper.app_key set to key, or nil when it cannot be done safely.
      def with_app_key(text, key)
        data = load(text)
        return nil unless data.is_a?(Hash)
        section = data["dumper"]
        return nil unless section.nil? || section.is_a?(Hash)
        return text if section.is_a?(Hash) && section["app_key"] == key
        out = data.key?("dumper") ? replace_in_section(text, key) : append_section(text, key)
        expected = data.merge("dumper" => (section || {}).merge("app_key" => key))
        out && load(out) == expected ? out : nil
      rescue Psych::Exception
        nil
      end

      # The same loader as Rails' credentials: the file is the app's own, decrypted with its key.
      def load(text)
        return {} if text.strip.empty?
        YAML.respond_to?(:unsafe_load) ? YAML.unsafe_load(text) : YAML.load(text) # rubocop:disable Security/YAMLLoad
      end

      def append_section(text, key)
        sep = text.empty? || text.end_with?("\n") ? "" : "\n"
        "#{text}#{sep}#{text.strip.empty? ? '' : "\n"}dumper:\n  app_key: #{key.to_json}\n"
      end

      def replace_in_section(text, key)
        lines = text.lines
        head = lines.index { |l| l.match?(/\Adumper:[ \t]*(#.*)?\r?\n?\z/) }
        return nil unless head
        stop = (head + 1...lines.size).find { |i| lines[i].match?(/\A[^\s#]/) } || lines.size
        body = (head + 1...stop).reject { |i| lines[i].strip.empty? || lines[i].lstrip.start_with?("#") }
        indent = body.empty? ? "  " : lines[body.first][/\A[ ]+/]
        return nil unless indent
        line = "#{indent}app_key: #{key.to_json}\n"
        lines[head] += "\n" unless lines[head].end_with?("\n")
        at = body.find { |i| lines[i].start_with?("#{indent}app_key:") }
        at ? lines[at] = line : lines.insert(head + 1, line)
        lines.join
      end
    end
  end
end
