# frozen_string_literal: true

module Dumper
  VERSION = "0.1.0"
end
