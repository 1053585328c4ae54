Rails.application.routes.draw do
  root to: "status#index"
  get "/dumper", to: "status#dumper"
  get "/slow", to: "status#slow"
end
