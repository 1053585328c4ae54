# A stand-in for Resque, which Debian does not package: the parts of its worker lifecycle that
# matter to the dumper agent, with Resque's hook API (Resque.before_first_fork { ... }).
# `script/resque_worker.rb` runs it like `QUEUE=* rake resque:work`: load the app, optionally
# daemonize (BACKGROUND), run the before_first_fork hooks, then fork one child per job; a child
# runs the job and leaves with exit! (no at_exit hooks), as Resque's does.
module Resque
  @hooks = Hash.new { |h, k| h[k] = [] }

  def self.before_first_fork(&block)
    block ? @hooks[:before_first_fork] << block : @hooks[:before_first_fork]
  end

  def self.after_fork(&block)
    block ? @hooks[:after_fork] << block : @hooks[:after_fork]
  end

  class Worker
    def initialize(log)
      @log = log
      @shutdown = false
    end

    def work(interval: 0.3)
      if ENV["BACKGROUND"]
        Process.daemon(true)
        File.write(ENV["PIDFILE"], Process.pid.to_s) if ENV["PIDFILE"]
      end
      %w[TERM INT QUIT].each { |s| trap(s) { @shutdown = true } }
      Resque.before_first_fork.each(&:call)
      n = 0
      until @shutdown
        n += 1
        pid = fork do
          Resque.after_fork.each(&:call)
          ActiveRecord::Base.connection.reconnect!
          rows = ActiveRecord::Base.connection.select_value("SELECT count(*) FROM items")
          st = Dumper::Agent.status
          File.open(@log, "a") { |f| f.puts("job #{n} pid #{Process.pid} rows #{rows} agent_running #{st[:running]}") }
          exit!(0)
        end
        Process.wait(pid)
        sleep interval
      end
    end
  end
end
