# extconf.rb - builds the dumper gem's native part at `gem install` time:
#   dumper/dumper_ext.so  the Ruby extension (dumper_ext.c over libdumper's agent API)
#   dumper/dumper         the helper executable the agent spawns for backup jobs (libdumper's CLI)
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

mods = PKG_DEPS.keys.join(" ")
pc_cflags = `pkg-config --cflags #{mods}`.strip
pc_libs = `pkg-config --libs #{mods}`.strip

version = "0.0.0"
cm = File.join(root, "CMakeLists.txt")
version = $1 if File.file?(cm) && File.read(cm) =~ /project\(dumper VERSION ([0-9.]+)/
FileUtils.mkdir_p("generated")
File.write("generated/dp_version.h", "#ifndef DP_VERSION_H\n#define DP_VERSION_H\n#define DP_VERSION_STRING \"#{version}\"\n#endif\n")

lib_srcs = Dir[File.join(root, "lib", "**", "*.c")].sort
cli_srcs = Dir[File.join(root, "cli", "*.c")].sort
abort "dumper: libdumper sources not found under #{root}/lib" if lib_srcs.empty? || cli_srcs.empty?

obj_name = ->(src) { "dp_" + src.delete_prefix(root + "/").delete_suffix(".c").tr("/", "_") + ".o" }
lib_objs = lib_srcs.map(&obj_name)
cli_objs = cli_srcs.map(&obj_name)

$INCFLAGS << " -I#{root}/include"
$CFLAGS << " -std=gnu11 -fvisibility=hidden"
$LDFLAGS << " -pthread"
# libdumper is linked statically into the extension; its system libraries dynamically.
$LOCAL_LIBS << " libdumper_gem.a #{pc_libs} -lm"
$cleanfiles.concat(lib_objs + cli_objs + ["libdumper_gem.a", "dumper"])

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
  mf.puts "DP_LIB_OBJS = #{lib_objs.join(' ')}"
  mf.puts "DP_CLI_OBJS = #{cli_objs.join(' ')}"
  (lib_srcs + cli_srcs).each do |src|
    mf.puts "#{obj_name.(src)}: #{src} generated/dp_version.h"
    mf.puts "\t$(ECHO) compiling #{src.delete_prefix(root + '/')}"
    mf.puts "\t$(Q) $(CC) $(DP_CFLAGS) -c #{src} -o $@"
  end
  mf.puts "libdumper_gem.a: $(DP_LIB_OBJS)"
  mf.puts "\t$(Q) rm -f $@ && ar rcs $@ $(DP_LIB_OBJS)"
  mf.puts "$(DLLIB): libdumper_gem.a"
  mf.puts "dumper: $(DP_CLI_OBJS) libdumper_gem.a"
  mf.puts "\t$(ECHO) linking the dumper helper"
  mf.puts "\t$(Q) $(CC) -o $@ $(DP_CLI_OBJS) libdumper_gem.a $(DP_LIBS)"
  mf.puts "all: dumper"
  mf.puts "install-so: install-dumper-helper"
  mf.puts "install-dumper-helper: dumper"
  mf.puts "\t$(Q) $(MAKEDIRS) $(RUBYARCHDIR)"
  mf.puts "\t$(INSTALL_PROG) dumper $(RUBYARCHDIR)"
end
