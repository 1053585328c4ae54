# frozen_string_literal: true

require_relative "lib/dumper/version"

Gem::Specification.new do |s|
  s.name = "dumper"
  s.version = Dumper::VERSION
  s.summary = "Dumper agent for Rails: automated backups of your app's databases"
  s.description = "Runs Dumper's embedded backup agent (a C extension over libdumper) in your Rails " \
                  "app's server processes. Backups run in detached helper processes, never in the app."
  s.authors = ["Dumper contributors"]
  s.license = "MIT"
  s.required_ruby_version = ">= 2.7"
  s.files = Dir["lib/**/*.rb", "lib/**/*.tt", "lib/**/*.rake", "ext/dumper/*.{rb,c}", "ext/dumper/libdumper/**/*.{c,h,in,txt}",
                "ext/dumper/libdumper/CMakeLists.txt", "README.md"]
  s.extensions = ["ext/dumper/extconf.rb"]
  s.require_paths = ["lib"]
end
