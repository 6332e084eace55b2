// The generic operator call: any registered operator (aten::add.Tensor, aten::conv2d, ...) is
// looked up once by name + overload and called boxed through the c10 dispatcher, with JS arguments
// converted by the operator's schema. ENGINE.md measured this to cost the same as a hand-written
// typed call, so there is no per-op C++; the ops are typed on the TypeScript side.
#include "addon.h"

namespace ns {

namespace {

[[noreturn]] void ArgError(Napi::Env env, const c10::FunctionSchema& schema, const c10::Argument& arg, const std::string& what) {
  GetAddon(env).Throw(env, schema.operator_name().name + (schema.overload_name().empty() ? "" : "." + schema.overload_name()) +
                               ": argument '" + arg.name() + "': " + what);
}

c10::IValue Convert(Napi::Env env, Addon& addon, const c10::FunctionSchema& schema, const c10::Argument& arg,
                    const c10::TypePtr& type, const Napi::Value& v);

c10::IValue ConvertList(Napi::Env env, Addon& addon, const c10::FunctionSchema& schema, const c10::Argument& arg,
                        const c10::TypePtr& elem, const Napi::Value& v) {
  const c10::TypeKind kind = elem->kind();
  // int[2] stride=1 broadcasts a single int, like Python.
  if (!v.IsArray()) {
    if ((kind == c10::TypeKind::IntType || kind == c10::TypeKind::SymIntType) && (v.IsNumber() || v.IsBigInt()) && arg.N()) {
      return c10::IValue(std::vector<int64_t>(*arg.N(), ToInt64(env, v, arg.name().c_str())));
    }
    ArgError(env, schema, arg, "expected an array");
  }
  Napi::Array a = v.As<Napi::Array>();
  const uint32_t n = a.Length();
  switch (kind) {
    case c10::TypeKind::IntType:
    case c10::TypeKind::SymIntType: {
      std::vector<int64_t> out(n);
      for (uint32_t i = 0; i < n; ++i) out[i] = ToInt64(env, a.Get(i), arg.name().c_str());
      return c10::IValue(std::move(out));
    }
    case c10::TypeKind::FloatType: {
      std::vector<double> out(n);
      for (uint32_t i = 0; i < n; ++i) {
        Napi::Value e = a.Get(i);
        if (!e.IsNumber()) ArgError(env, schema, arg, "expected an array of numbers");
        out[i] = e.As<Napi::Number>().DoubleValue();
      }
      return c10::IValue(std::move(out));
    }
    case c10::TypeKind::BoolType: {
      c10::List<bool> out;
      out.reserve(n);
      for (uint32_t i = 0; i < n; ++i) out.push_back(a.Get(i).ToBoolean().Value());
      return c10::IValue(std::move(out));
    }
    case c10::TypeKind::TensorType: {
      c10::List<at::Tensor> out;
      out.reserve(n);
      for (uint32_t i = 0; i < n; ++i) out.push_back(addon.Get(env, a.Get(i)));
      return c10::IValue(std::move(out));
    }
    case c10::TypeKind::OptionalType: {
      auto inner = elem->castRaw<c10::OptionalType>()->getElementType();
      if (inner->kind() == c10::TypeKind::TensorType) {
        c10::List<Optional<at::Tensor>> out;
        out.reserve(n);
        for (uint32_t i = 0; i < n; ++i) {
          Napi::Value e = a.Get(i);
          if (e.IsNull() || e.IsUndefined()) out.push_back(kNullopt);
          else out.push_back(addon.Get(env, e));
        }
        return c10::IValue(std::move(out));
      }
      break;
    }
    default:
      break;
  }
  ArgError(env, schema, arg, "unsupported list type " + elem->str() + "[]");
}

c10::IValue Convert(Napi::Env env, Addon& addon, const c10::FunctionSchema& schema, const c10::Argument& arg,
                    const c10::TypePtr& type, const Napi::Value& v) {
  switch (type->kind()) {
    case c10::TypeKind::TensorType:
      return addon.Get(env, v);
    case c10::TypeKind::OptionalType:
      if (v.IsNull() || v.IsUndefined()) return c10::IValue();
      return Convert(env, addon, schema, arg, type->castRaw<c10::OptionalType>()->getElementType(), v);
    case c10::TypeKind::IntType:
    case c10::TypeKind::SymIntType:
      return c10::IValue(ToInt64(env, v, arg.name().c_str()));
    case c10::TypeKind::FloatType:
      if (!v.IsNumber()) ArgError(env, schema, arg, "expected a number");
      return c10::IValue(v.As<Napi::Number>().DoubleValue());
    case c10::TypeKind::BoolType:
      if (!v.IsBoolean()) ArgError(env, schema, arg, "expected a boolean");
      return c10::IValue(v.As<Napi::Boolean>().Value());
    case c10::TypeKind::NumberType:
      // Scalar: JS cannot tell 2 from 2.0, so the typed layer passes integers as BigInt.
      if (v.IsBigInt()) return c10::IValue(c10::Scalar(ToInt64(env, v, arg.name().c_str())));
      if (v.IsNumber()) return c10::IValue(c10::Scalar(v.As<Napi::Number>().DoubleValue()));
      if (v.IsBoolean()) return c10::IValue(c10::Scalar(v.As<Napi::Boolean>().Value()));
      ArgError(env, schema, arg, "expected a number, BigInt or boolean scalar");
    case c10::TypeKind::StringType:
      if (!v.IsString()) ArgError(env, schema, arg, "expected a string");
      return c10::IValue(v.As<Napi::String>().Utf8Value());
    case c10::TypeKind::DeviceObjType:
      if (!v.IsString()) ArgError(env, schema, arg, "expected a device string");
      return c10::IValue(c10::Device(v.As<Napi::String>().Utf8Value()));
    case c10::TypeKind::GeneratorType:
      return c10::IValue(addon.GetGenerator(env, v));
    case c10::TypeKind::ListType:
      return ConvertList(env, addon, schema, arg, type->castRaw<c10::ListType>()->getElementType(), v);
    default:
      ArgError(env, schema, arg, "unsupported argument type " + type->str());
  }
}

Napi::Value FromIValueImpl(Napi::Env env, Addon& addon, const c10::IValue& v) {
  if (v.isTensor()) {
    const at::Tensor& t = v.toTensor();
    if (!t.defined()) return env.Null();
    return Napi::Number::New(env, addon.Store(t));
  }
  if (v.isNone()) return env.Null();
  if (v.isInt()) return Napi::Number::New(env, static_cast<double>(v.toInt()));
  if (v.isDouble()) return Napi::Number::New(env, v.toDouble());
  if (v.isBool()) return Napi::Boolean::New(env, v.toBool());
  if (v.isString()) return Napi::String::New(env, v.toStringRef());
  // Symbolic scalars: torch 2.x schemas return SymInt (and SymFloat/SymBool) where 1.13 had int;
  // outside tracing they hold concrete values, which expect_*() returns (it throws if symbolic).
  if (v.isSymInt()) return Napi::Number::New(env, static_cast<double>(v.toSymInt().expect_int()));
  if (v.isSymFloat()) return Napi::Number::New(env, v.toSymFloat().expect_float());
#if NS_TORCH_AT_LEAST(2, 2)  // IValue has a SymBool tag in 2.x only; 2.2 is surely past its arrival
  if (v.isSymBool()) return Napi::Boolean::New(env, v.toSymBool().expect_bool());
#endif
  if (v.isTensorList()) {
    auto list = v.toTensorList();
    Napi::Array a = Napi::Array::New(env, list.size());
    for (size_t i = 0; i < list.size(); ++i) {
      const at::Tensor t = list.get(i);
      a.Set(static_cast<uint32_t>(i), t.defined() ? Napi::Value(Napi::Number::New(env, addon.Store(t))) : env.Null());
    }
    return a;
  }
  if (v.isIntList()) {
    auto list = v.toIntVector();
    Napi::Array a = Napi::Array::New(env, list.size());
    for (size_t i = 0; i < list.size(); ++i) a.Set(static_cast<uint32_t>(i), Napi::Number::New(env, static_cast<double>(list[i])));
    return a;
  }
  if (v.isDoubleList()) {
    auto list = v.toDoubleVector();
    Napi::Array a = Napi::Array::New(env, list.size());
    for (size_t i = 0; i < list.size(); ++i) a.Set(static_cast<uint32_t>(i), Napi::Number::New(env, list[i]));
    return a;
  }
  if (v.isTuple()) {
    const auto& elems = v.toTupleRef().elements();
    Napi::Array a = Napi::Array::New(env, elems.size());
    for (size_t i = 0; i < elems.size(); ++i) a.Set(static_cast<uint32_t>(i), FromIValueImpl(env, addon, elems[i]));
    return a;
  }
  if (v.isList()) {
    auto list = v.toListRef();
    Napi::Array a = Napi::Array::New(env, list.size());
    for (size_t i = 0; i < list.size(); ++i) a.Set(static_cast<uint32_t>(i), FromIValueImpl(env, addon, list[i]));
    return a;
  }
  GetAddon(env).Throw(env, "unsupported return type " + v.tagKind());
}

const c10::OperatorHandle& OpOf(Napi::Env env, Addon& addon, const Napi::Value& v) {
  if (!v.IsNumber()) addon.Throw(env, "expected an operator id");
  const uint32_t id = v.As<Napi::Number>().Uint32Value();
  if (id >= addon.ops.size()) addon.Throw(env, "unknown operator id");
  return addon.ops[id];
}

// Builds the boxed stack from info[first..]. Missing trailing arguments take the schema default.
torch::jit::Stack BuildStack(Napi::Env env, Addon& addon, const c10::FunctionSchema& schema, const Napi::CallbackInfo& info, size_t first) {
  const auto& args = schema.arguments();
  const size_t given = info.Length() - first;
  if (given > args.size()) {
    addon.Throw(env, schema.name() + ": " + std::to_string(given) + " arguments given, the schema takes " + std::to_string(args.size()));
  }
  torch::jit::Stack stack;
  stack.reserve(args.size());
  for (size_t i = 0; i < args.size(); ++i) {
    const c10::Argument& arg = args[i];
    Napi::Value v = i < given ? info[first + i] : env.Undefined();
    if (v.IsUndefined()) {
      if (arg.default_value()) {
        stack.push_back(*arg.default_value());
        continue;
      }
      if (arg.type()->kind() == c10::TypeKind::OptionalType) {
        stack.emplace_back();
        continue;
      }
      ArgError(env, schema, arg, "missing (no default)");
    }
    stack.push_back(Convert(env, addon, schema, arg, arg.type(), v));
  }
  return stack;
}

// In-place and out= results alias an input: the JS layer already holds that tensor, so no new
// handle is made for them (they come back as `undefined`).
Napi::Value ResultsToJs(Napi::Env env, Addon& addon, const c10::FunctionSchema& schema, const torch::jit::Stack& stack) {
  const auto& rets = schema.returns();
  auto one = [&](size_t i) -> Napi::Value {
    const auto* alias = rets[i].alias_info();
    if (alias && alias->isWrite()) return env.Undefined();
    return FromIValueImpl(env, addon, stack[i]);
  };
  if (rets.size() == 1) return one(0);
  if (rets.empty()) return env.Undefined();
  Napi::Array a = Napi::Array::New(env, rets.size());
  for (size_t i = 0; i < rets.size(); ++i) a.Set(static_cast<uint32_t>(i), one(i));
  return a;
}

Napi::Value LookupOp(const Napi::CallbackInfo& info) {
  return Guard(info, [&] {
    Napi::Env env = info.Env();
    Addon& addon = GetAddon(env);
    const std::string name = info[0].As<Napi::String>().Utf8Value();
    const std::string overload = info.Length() > 1 && info[1].IsString() ? info[1].As<Napi::String>().Utf8Value() : "";
    const std::string key = name + "." + overload;
    auto it = addon.op_ids.find(key);
    if (it != addon.op_ids.end()) return Napi::Number::New(env, it->second);
    auto op = c10::Dispatcher::singleton().findSchema({name, overload});
    if (!op) addon.Throw(env, "no operator " + name + (overload.empty() ? "" : "." + overload) + " is registered in libtorch");
    const uint32_t id = static_cast<uint32_t>(addon.ops.size());
    addon.ops.push_back(*op);
    addon.op_ids.emplace(key, id);
    return Napi::Number::New(env, id);
  });
}

Napi::Value OpSchema(const Napi::CallbackInfo& info) {
  return Guard(info, [&] {
    Napi::Env env = info.Env();
    Addon& addon = GetAddon(env);
    std::ostringstream os;
    os << OpOf(env, addon, info[0]).schema();
    return Napi::String::New(env, os.str());
  });
}

// call(opId, ...args): synchronous, on the JS thread.
Napi::Value Call(const Napi::CallbackInfo& info) {
  return Guard(info, [&] {
    Napi::Env env = info.Env();
    Addon& addon = GetAddon(env);
    if (addon.compute.Busy()) addon.compute.WaitIdle();
    const c10::OperatorHandle& op = OpOf(env, addon, info[0]);
    const c10::FunctionSchema& schema = op.schema();
    torch::jit::Stack stack = BuildStack(env, addon, schema, info, 1);
    op.callBoxed(&stack);
    return ResultsToJs(env, addon, schema, stack);
  });
}

// callAsync(opId, ...args): the same call queued on the serial compute thread; resolves with the
// same result shape as call().
Napi::Value CallAsync(const Napi::CallbackInfo& info) {
  return Guard(info, [&] {
    Napi::Env env = info.Env();
    Addon& addon = GetAddon(env);
    const c10::OperatorHandle op = OpOf(env, addon, info[0]);
    auto stack = std::make_shared<torch::jit::Stack>(BuildStack(env, addon, op.schema(), info, 1));
    auto task = std::make_unique<Task>();
    task->work = [op, stack] { op.callBoxed(stack.get()); };
    task->finish = [op, stack](Napi::Env e) { return ResultsToJs(e, GetAddon(e), op.schema(), *stack); };
    return addon.compute.Submit(env, std::move(task));
  });
}

// All registered schemas, for tooling and tests (e.g. checking an op exists before typing it).
Napi::Value ListSchemas(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto names = c10::Dispatcher::singleton().getAllOpNames();
  Napi::Array a = Napi::Array::New(env, names.size());
  uint32_t i = 0;
  for (const auto& n : names) a.Set(i++, Napi::String::New(env, n.overload_name.empty() ? n.name : n.name + "." + n.overload_name));
  return a;
}

}  // namespace

Napi::Value FromIValue(Napi::Env env, Addon& addon, const c10::IValue& v) { return FromIValueImpl(env, addon, v); }

void InitDispatch(Napi::Env env, Napi::Object exports) {
  exports.Set("op", Napi::Function::New(env, LookupOp));
  exports.Set("opSchema", Napi::Function::New(env, OpSchema));
  exports.Set("call", Napi::Function::New(env, Call));
  exports.Set("callAsync", Napi::Function::New(env, CallAsync));
  exports.Set("listOps", Napi::Function::New(env, ListSchemas));
}

}  // namespace ns
