# frozen_string_literal: true

# A config.ru that does not parse.
run lambda { |env| [200, {}, ["never"]]
