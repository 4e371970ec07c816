#include "nn/module.h"

#include <cxxabi.h>

#include <algorithm>
#include <cstdlib>
#include <mutex>
#include <ostream>
#include <typeinfo>

#include "autograd/error.h"
#include "autograd/tape.h"
#include "nn/serialize.h"

namespace elbo::nn {
namespace {

template <class F> void walk(const Module& m, const std::string& prefix, F&& f) {
  f(prefix, m);
  for (auto& [name, child] : const_cast<Module&>(m).named_children())
    walk(*child, name.empty() ? prefix : prefix.empty() ? name : prefix + "." + name, f);  // "": inline
}

std::string join(const std::string& prefix, const std::string& name) {
  return prefix.empty() ? name : prefix + "." + name;
}

std::string with_commas(int64_t n) {
  std::string s = std::to_string(n), out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (i > 0 && (s.size() - i) % 3 == 0) out += ',';
    out += s[i];
  }
  return out;
}

// Every live module, for check_unregistered_modules. Never destroyed: modules with static storage may
// outlive any registry that was.
struct Registry {
  std::mutex mu;
  std::vector<const Module*> live;
};
Registry& registry() {
  static Registry* r = new Registry;
  return *r;
}
void enroll(const Module* m) {
  Registry& r = registry();
  const std::lock_guard lock(r.mu);
  r.live.push_back(m);
}

}  // namespace

Module::Module() { enroll(this); }

Module::~Module() {
  Registry& r = registry();
  const std::lock_guard lock(r.mu);
  std::erase(r.live, this);
}

Module::Module(Module&& o) noexcept
    : params_(std::move(o.params_)), buffers_(std::move(o.buffers_)), children_(std::move(o.children_)),
      training_(o.training_), collected_(o.collected_) {
  for (auto& [_, c] : children_) c->parent_ = this;
  enroll(this);
}

Module& Module::operator=(Module&& o) noexcept {
  if (this == &o) return *this;
  params_ = std::move(o.params_), buffers_ = std::move(o.buffers_), children_ = std::move(o.children_);
  training_ = o.training_, collected_ = o.collected_;
  for (auto& [_, c] : children_) c->parent_ = this;
  return *this;
}

void check_unregistered_modules(const std::vector<Tensor>& stepped, const char* optimizer) {
  auto stepping = [&](const Tensor& t) {
    return std::any_of(stepped.begin(), stepped.end(), [&](const Tensor& s) { return s.impl() == t.impl(); });
  };
  Registry& r = registry();
  const std::lock_guard lock(r.mu);
  for (const Module* m : r.live) {
    if (m->parent_ || m->collected_) continue;
    int64_t orphans = 0;
    walk(*m, "", [&](const std::string&, const Module& d) {
      for (auto& [_, t] : d.params_) orphans += t.grad().defined() && !stepping(t);
    });
    const std::string settings = m->extra_repr();
    ELBO_CHECK(orphans == 0,
               "{}.step: {} parameter(s) of a {}{} received gradients, but no optimizer holds them and the module "
               "was never registered with a parent: a module held as a plain member (`nn::Linear fc{{4, 2}};`) is "
               "invisible to its parent's parameters(). Register it (register_module, or register_inline to keep "
               "its names flat); if another optimizer is meant to train it, build that optimizer from its "
               "parameters(); if it is meant to stay fixed, call requires_grad_(false) on its parameters",
               optimizer, orphans, m->type_name(), settings.empty() ? "" : "(" + settings + ")");
  }
}

void Module::check_name(const std::string& name, const char* what) const {
  ELBO_CHECK(!name.empty() && name.find('.') == std::string::npos,
             "{}: register_{}: name '{}' must be non-empty and contain no '.'", type_name(), what, name);
  const std::vector<std::string> names = local_names();
  ELBO_CHECK(std::find(names.begin(), names.end(), name) == names.end(),
             "{}: register_{}: name '{}' is already registered", type_name(), what, name);
}

std::vector<std::string> Module::local_names() const {
  std::vector<std::string> out;
  for (auto& [n, _] : params_) out.push_back(n);
  for (auto& [n, _] : buffers_) out.push_back(n);
  for (auto& [n, c] : children_) {
    if (!n.empty()) out.push_back(n);
    else for (std::string& m : c->local_names()) out.push_back(std::move(m));
  }
  return out;
}

void Module::add_inline(std::unique_ptr<Module> m) {
  ELBO_CHECK(m, "{}: register_inline: the module is null", type_name());
  for (const std::string& n : m->local_names()) check_name(n, "inline");
  m->parent_ = this;
  children_.emplace_back("", std::move(m));
}

Tensor Module::register_parameter(std::string name, Tensor t) {
  check_name(name, "parameter");
  ELBO_CHECK(t.defined() && is_floating(t.dtype()), "{}: register_parameter '{}': needs a defined f32/f64 tensor",
             type_name(), name);
  t.requires_grad_(true);
  params_.emplace_back(std::move(name), t);
  return t;
}

Tensor Module::register_buffer(std::string name, Tensor t) {
  check_name(name, "buffer");
  ELBO_CHECK(t.defined(), "{}: register_buffer '{}': needs a defined tensor", type_name(), name);
  buffers_.emplace_back(std::move(name), t);
  return t;
}

void Module::add_child(std::string name, std::unique_ptr<Module> m) {
  check_name(name, "module");
  m->parent_ = this;
  children_.emplace_back(std::move(name), std::move(m));
}

NamedTensors Module::named_parameters() const {
  collected_ = true;
  NamedTensors out;
  walk(*this, "", [&](const std::string& prefix, const Module& m) {
    for (auto& [n, t] : m.params_) out.emplace_back(join(prefix, n), t);
  });
  return out;
}

std::vector<Tensor> Module::parameters() const {
  std::vector<Tensor> out;
  for (auto& [_, t] : named_parameters()) out.push_back(t);
  return out;
}

NamedTensors Module::named_buffers() const {
  NamedTensors out;
  walk(*this, "", [&](const std::string& prefix, const Module& m) {
    for (auto& [n, t] : m.buffers_) out.emplace_back(join(prefix, n), t);
  });
  return out;
}

NamedTensors Module::state_dict() const {
  collected_ = true;
  NamedTensors out;
  walk(*this, "", [&](const std::string& prefix, const Module& m) {
    for (auto& [n, t] : m.params_) out.emplace_back(join(prefix, n), t);
    for (auto& [n, t] : m.buffers_) out.emplace_back(join(prefix, n), t);
  });
  return out;
}

void Module::load_state_dict(const NamedTensors& state) { load_state(*this, state, "state_dict"); }

std::vector<std::pair<std::string, const Module*>> Module::named_modules() const {
  std::vector<std::pair<std::string, const Module*>> out;
  walk(*this, "", [&](const std::string& prefix, const Module& m) { out.emplace_back(prefix, &m); });
  return out;
}

std::vector<std::pair<std::string, Module*>> Module::named_children() {
  std::vector<std::pair<std::string, Module*>> out;
  for (auto& [n, c] : children_) out.emplace_back(n, c.get());
  return out;
}

int64_t Module::num_parameters() const {
  int64_t n = 0;
  for (auto& [_, t] : named_parameters()) n += t.numel();
  return n;
}

void Module::train(bool on) {
  training_ = on;
  for (auto& [_, c] : children_) c->train(on);
}

void Module::zero_grad() {
  for (auto& [_, t] : named_parameters()) t.set_grad(Tensor());
}

void Module::to(DType dtype) {
  ELBO_CHECK(is_floating(dtype), "{}.to: parameters must be f32 or f64, not {}", type_name(), dtype);
  NoGradGuard guard;
  auto convert = [&](const Tensor& t) {
    if (t.dtype() == dtype || !is_floating(t.dtype())) return;
    Tensor c = t.detach().to(dtype);
    TensorImpl* impl = t.impl();
    impl->storage = c.impl()->storage;  // same handle, new values: every holder sees the change
    impl->dtype = dtype;
    impl->grad.reset();
  };
  for (auto& [_, t] : named_parameters()) convert(t);
  for (auto& [_, t] : named_buffers()) convert(t);
}

std::string Module::type_name() const {
  int status = 0;
  const char* mangled = typeid(*this).name();
  char* dem = abi::__cxa_demangle(mangled, nullptr, nullptr, &status);
  std::string name = status == 0 && dem ? dem : mangled;
  std::free(dem);
  if (auto pos = name.rfind("::"); pos != std::string::npos) name = name.substr(pos + 2);
  return name;
}

void Module::repr_into(std::string& out, int indent) const {
  const std::string pad(size_t(indent) * 2, ' ');
  out += type_name() + "(" + extra_repr();
  if (children_.empty() && params_.empty()) {
    out += ")";
    return;
  }
  if (children_.empty()) {  // a leaf layer: shapes and count on one line
    out += ")  # ";
    for (size_t i = 0; i < params_.size(); ++i)
      out += fmt::format("{}{}{}", i ? ", " : "", params_[i].first, params_[i].second.shape());
    out += fmt::format(" = {} params", with_commas(num_parameters()));
    return;
  }
  out += "\n";
  for (auto& [n, t] : params_) out += fmt::format("{}  {}: {} {}\n", pad, n, t.dtype(), t.shape());
  for (auto& [n, c] : children_) {
    out += pad + "  (" + (n.empty() ? "inline" : n) + "): ";
    c->repr_into(out, indent + 1);
    out += "\n";
  }
  out += pad + ")";
  if (indent == 0) out += fmt::format("  # {} params", with_commas(num_parameters()));
}

std::string Module::repr() const {
  std::string out;
  repr_into(out, 0);
  return out;
}

std::ostream& operator<<(std::ostream& os, const Module& m) { return os << m.repr(); }

}  // namespace elbo::nn
