# GET / answers "ok" after a query on each database; GET /dumper the agent's state in this process.
class StatusController < ApplicationController
  def index
    ActiveRecord::Base.connection.select_value("SELECT count(*) FROM items")
    render plain: "ok"
  end

  def dumper
    render json: Dumper::Agent.status.merge(pid: Process.pid, ppid: Process.ppid, dispatcher: Dumper::Stack.dispatcher)
  end
end
