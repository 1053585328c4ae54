bind "tcp://127.0.0.1:#{ENV.fetch('PORT')}"
environment "production"
threads 2, 4
pidfile ENV["PIDFILE"] if ENV["PIDFILE"]
