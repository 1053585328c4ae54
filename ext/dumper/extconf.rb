# extconf.rb - builds the dumper gem's native part at `gem install` time:
#   dumper/dumper_ext.so  the Ruby extension: dumper_ext.c over the agent library alone
#                         (lib/agent-sources.txt: agent thread, protocol, HTTP client, URL parser,
#                         core), linked with libcurl and cJSON only, so every app process that
#                         loads it maps no database client library
#   dumper/dumper         the helper executable the agent spawns for backup jobs (libdumper's CLI:
#                         the agent library and the engine, linked with every system library)
# Both are built from libdumper's C sources carried in the gem (ext/dumper/libdumper/, copied there
# by gem/build.sh; in a source checkout the repository root is used) and linked against Debian's
# system libraries found through pkg-config. The helper is installed with `make install` into the
# extension's directory (next to dumper_ext.so), where RubyGems' clean-up of ext/ cannot remove it.
#
# Switches: DUMPER_NO_EXTENSION=1 skips the build (the gem installs; Dumper::Agent.start then logs
# that the agent is unavailable and does nothing). DUMPER_EXT_STRICT=1 adds -Werror.

def write_dummy_makefile(reason)
  File.write("Makefile", "all:\n\t@true\ninstall:\n\t@true\nclean:\n\t@true\n")
  File.write("skipped_reason.txt", reason + "\n")
  puts "dumper: native extension skipped: #{reason}"
  exit 0
end

if ENV["DUMPER_NO_EXTENSION"] && !%w[0 false no].include?(ENV["DUMPER_NO_EXTENSION"].downcase)
  write_dummy_makefile("DUMPER_NO_EXTENSION is set")
end
unless RUBY_PLATFORM =~ /linux|darwin|bsd/ && RUBY_ENGINE == "ruby"
  write_dummy_makefile("unsupported platform #{RUBY_ENGINE} #{RUBY_PLATFORM}")
end

require "mkmf"

here = File.expand_path(__dir__)
root = File.join(here, "libdumper")
root = File.expand_path("../..", here) unless File.directory?(File.join(root, "lib", "agent"))
unless File.file?(File.join(root, "include", "dumper.h"))
  abort "dumper: libdumper's sources are missing (looked in #{root}); the gem was not built with gem/build.sh"
end

# pkg-config module => Debian package that provides it
PKG_DEPS = {
  "libcurl" => "libcurl4-openssl-dev", "libcjson" => "libcjson-dev", "libpq" => "libpq-dev",
  "libmariadb" => "libmariadb-dev", "libmongoc-1.0" => "libmongoc-dev", "libbson-1.0" => "libbson-dev",
  "hiredis" => "libhiredis-dev", "libzstd" => "libzstd-dev", "zlib" => "zlib1g-dev",
  "openssl" => "libssl-dev", "sqlite3" => "libsqlite3-dev", "libarchive" => "libarchive-dev"
}.freeze

unless find_executable("pkg-config")
  abort <<~MSG

    dumper: pkg-config was not found. On Debian/Ubuntu:
      sudo apt-get install pkg-config #{PKG_DEPS.values.uniq.join(' ')}
  MSG
end
missing = PKG_DEPS.keys.reject { |m| system("pkg-config", "--exists", m) }
unless missing.empty?
  abort <<~MSG

    dumper: missing system libraries (pkg-config modules: #{missing.join(', ')}).
    On Debian/Ubuntu install them with:
      sudo apt-get install #{missing.map { |m| PKG_DEPS[m] }.uniq.join(' ')}
    (or set DUMPER_NO_EXTENSION=1 to install the gem without its agent)
  MSG
end
%w[pthread.h spawn.h].each { |h| have_header(h) or abort "dumper: #{h} not found (a C toolchain: sudo apt-get install build-essential)" }
have_func("pthread_atfork", "pthread.h") or abort "dumper: pthread_atfork is required"

# The extension needs only these two; the helper needs them all.
AGENT_PKG_DEPS = %w[libcurl libcjson].freeze
mods = PKG_DEPS.keys.join(" ")
pc_cflags = `pkg-config --cflags #{mods}`.strip
pc_libs = `pkg-config --libs #{mods}`.strip
agent_pc_libs = `pkg-config --libs #{AGENT_PKG_DEPS.join(' ')}`.strip

version = "0.0.0"
cm = File.join(root, "CMakeLists.txt")
version = $1 if File.file?(cm) && File.read(cm) =~ /project\(dumper VERSION ([0-9.]+)/
FileUtils.mkdir_p("generated")
File.write("generated/dp_version.h", "#ifndef DP_VERSION_H\n#define DP_VERSION_H\n#define DP_VERSION_STRING \"#{version}\"\n#endif\n")

lib_srcs = Dir[File.join(root, "lib", "**", "*.c")].sort
cli_srcs = Dir[File.join(root, "cli", "*.c")].sort
agent_list = File.join(root, "lib", "agent-sources.txt")
abort "dumper: libdumper sources not found under #{root}/lib" if lib_srcs.empty? || cli_srcs.empty? || !File.file?(agent_list)
# the same list lib/CMakeLists.txt reads
agent_srcs = File.readlines(agent_list, chomp: true).reject { |l| l.start_with?("#") || l.strip.empty? }
                 .map { |l| File.join(root, "lib", l.strip) }
missing_srcs = agent_srcs - lib_srcs
abort "dumper: #{agent_list} names missing files: #{missing_srcs.join(', ')}" unless missing_srcs.empty?
engine_srcs = lib_srcs - agent_srcs

obj_name = ->(src) { "dp_" + src.delete_prefix(root + "/").delete_suffix(".c").tr("/", "_") + ".o" }
agent_objs = agent_srcs.map(&obj_name)
engine_objs = engine_srcs.map(&obj_name)
cli_objs = cli_srcs.map(&obj_name)

$INCFLAGS << " -I#{root}/include"
$CFLAGS << " -std=gnu11 -fvisibility=hidden"
$LDFLAGS << " -pthread"
# The agent library is linked statically into the extension; libcurl and cJSON dynamically.
$LOCAL_LIBS << " libdumper_agent_gem.a #{agent_pc_libs}"
$cleanfiles.concat(agent_objs + engine_objs + cli_objs + ["libdumper_agent_gem.a", "libdumper_engine_gem.a", "dumper"])

create_makefile("dumper/dumper_ext")

strict = ENV["DUMPER_EXT_STRICT"] ? " -Werror" : ""
dp_cflags = "-std=gnu11 -O2 -g -fPIC -fvisibility=hidden -pthread -D_GNU_SOURCE -DDUMPER_BUILDING " \
            "-Wall -Wextra -Wno-unused-parameter#{strict} " \
            "-I#{root}/include -I#{root}/lib -Igenerated #{pc_cflags}"
File.open("Makefile", "a") do |mf|
  mf.puts
  mf.puts "# --- libdumper and the dumper helper (appended by extconf.rb) ---"
  mf.puts "DP_CFLAGS = #{dp_cflags}"
  mf.puts "DP_LIBS = #{pc_libs} -lm -pthread"
  mf.puts "DP_AGENT_OBJS = #{agent_objs.join(' ')}"
  mf.puts "DP_ENGINE_OBJS = #{engine_objs.join(' ')}"
  mf.puts "DP_CLI_OBJS = #{cli_objs.join(' ')}"
  (lib_srcs + cli_srcs).each do |src|
    mf.puts "#{obj_name.(src)}: #{src} generated/dp_version.h"
    mf.puts "\t$(ECHO) compiling #{src.delete_prefix(root + '/')}"
    mf.puts "\t$(Q) $(CC) $(DP_CFLAGS) -c #{src} -o $@"
  end
  mf.puts "libdumper_agent_gem.a: $(DP_AGENT_OBJS)"
  mf.puts "\t$(Q) rm -f $@ && ar rcs $@ $(DP_AGENT_OBJS)"
  mf.puts "libdumper_engine_gem.a: $(DP_ENGINE_OBJS)"
  mf.puts "\t$(Q) rm -f $@ && ar rcs $@ $(DP_ENGINE_OBJS)"
  mf.puts "$(DLLIB): libdumper_agent_gem.a"
  mf.puts "dumper: $(DP_CLI_OBJS) libdumper_engine_gem.a libdumper_agent_gem.a"
  mf.puts "\t$(ECHO) linking the dumper helper"
  mf.puts "\t$(Q) $(CC) -o $@ $(DP_CLI_OBJS) libdumper_engine_gem.a libdumper_agent_gem.a $(DP_LIBS)"
  mf.puts "all: dumper"
  mf.puts "install-so: install-dumper-helper"
  mf.puts "install-dumper-helper: dumper"
  mf.puts "\t$(Q) $(MAKEDIRS) $(RUBYARCHDIR)"
  mf.puts "\t$(INSTALL_PROG) dumper $(RUBYARCHDIR)"
end
