// Schema validation of one stage's (or one section's) parameters for the pipeline loader
// (config.cpp): types, ranges, choices, blocks and maps, defaults filled, every problem located.
#pragma once

#include <algorithm>

#include "config_yaml.h"
#include "embedflow/schema.h"
#include "embedflow/strings.h"
#include "embedflow/suggest.h"

namespace embedflow::config_detail {

// ---------------------------------------------------------------------------------------------
// Parameter validation against a schema.

inline std::string describe_value(const Json& v) {
  if (v.is_string()) return "\"" + v.get<std::string>() + "\"";
  if (v.is_boolean()) return v.get<bool>() ? "true" : "false";
  if (v.is_null()) return "null";
  if (v.is_array()) return "a list";
  if (v.is_object()) return "a mapping";
  return v.dump();
}

inline std::string range_text(const ParamSpec& p) {
  auto num = [](double x) {
    std::ostringstream s;
    s << x;
    return s.str();
  };
  if (p.min && p.max) return "between " + num(*p.min) + " and " + num(*p.max);
  if (p.min) return ">= " + num(*p.min);
  if (p.max) return "<= " + num(*p.max);
  return "";
}

struct ParamValidator {
  const std::string& stage;
  const Locations& locs;
  Diags& diags;
  SourceLocation stage_loc;
  // What messages call a value: a stage's "parameter", or a "key" of a section or of the stage.
  std::string noun = "parameter";

  SourceLocation where(const std::string& path, bool key = false) const {
    auto it = locs.find(key ? path + "#key" : path);
    if (it != locs.end()) return it->second;
    it = locs.find(path);
    return it != locs.end() ? it->second : stage_loc;
  }

  bool check_number(const ParamSpec& p, const Json& v, const std::string& path) {
    double x = v.get<double>();
    if ((p.min && x < *p.min) || (p.max && x > *p.max)) {
      diags.error(where(path), stage,
                  noun + " '" + path + "' must be " + range_text(p) + ", got " + v.dump());
      return false;
    }
    return true;
  }

  // Returns the validated (possibly coerced) value.
  Json value(const ParamSpec& p, const Json& v, const std::string& path) {
    auto type_error = [&](const std::string& expected) {
      diags.error(where(path), stage,
                  noun + " '" + path + "' expects " + expected + ", got " + describe_value(v));
      return Json();
    };
    // "${N:-4}" is usually quoted: accept a string that is wholly a number or a boolean.
    if (v.is_string() &&
        (p.type == ParamType::Int || p.type == ParamType::Float || p.type == ParamType::Bool)) {
      const std::string& s = v.get_ref<const std::string&>();
      if (p.type == ParamType::Bool && (s == "true" || s == "false")) return Json(s == "true");
      char* end = nullptr;
      if (!s.empty() && p.type == ParamType::Int) {
        long long iv = std::strtoll(s.c_str(), &end, 10);
        if (*end == '\0') return value(p, Json(static_cast<int64_t>(iv)), path);
      }
      if (!s.empty() && p.type == ParamType::Float) {
        double dv = std::strtod(s.c_str(), &end);
        if (*end == '\0') return value(p, Json(dv), path);
      }
    }
    switch (p.type) {
      case ParamType::Bool:
        if (!v.is_boolean()) return type_error("true or false");
        return v;
      case ParamType::Int:
        // Only floats that int64 holds exactly become integers (1e300 once came out as
        // -9223372036854775808 in the message).
        if (v.is_number_float() && std::floor(v.get<double>()) == v.get<double>() &&
            std::fabs(v.get<double>()) < 9.0e18)
          return value(p, Json(static_cast<int64_t>(v.get<double>())), path);
        if (!v.is_number_integer()) return type_error("an integer");
        check_number(p, v, path);
        return v;
      case ParamType::Float:
        if (!v.is_number()) return type_error("a number");
        check_number(p, v, path);
        return Json(v.get<double>());
      case ParamType::String:
      case ParamType::Path:
        if (v.is_number() || v.is_boolean()) return Json(v.dump());
        if (!v.is_string()) return type_error("a string");
        return v;
      case ParamType::Enum: {
        if (!v.is_string()) return type_error("one of " + join(p.choices, ", "));
        std::string s = v.get<std::string>();
        if (std::find(p.choices.begin(), p.choices.end(), s) == p.choices.end()) {
          diags.error(where(path), stage,
                      noun + " '" + path + "' must be one of " + join(p.choices, ", ") +
                          ", got \"" + s + "\"" + did_you_mean(s, p.choices));
          return Json();
        }
        return v;
      }
      case ParamType::Strings: {
        if (v.is_string()) return Json::array({v});
        if (!v.is_array()) return type_error("a list of strings");
        Json out = Json::array();
        for (size_t i = 0; i < v.size(); ++i) {
          const Json& e = v[i];
          if (e.is_string())
            out.push_back(e);
          else if (e.is_number() || e.is_boolean())
            out.push_back(e.dump());
          else {
            diags.error(where(path + "[" + std::to_string(i) + "]"), stage,
                        noun + " '" + path + "' expects a list of strings, element " +
                            std::to_string(i) + " is " + describe_value(e));
          }
        }
        return out;
      }
      case ParamType::Floats: {
        Json list = v.is_number() ? Json::array({v}) : v;
        if (!list.is_array()) return type_error("a list of numbers");
        Json out = Json::array();
        for (size_t i = 0; i < list.size(); ++i) {
          std::string ep = path + "[" + std::to_string(i) + "]";
          if (!list[i].is_number()) {
            diags.error(where(ep), stage,
                        noun + " '" + path + "' expects a list of numbers, element " +
                            std::to_string(i) + " is " + describe_value(list[i]));
            continue;
          }
          check_number(p, list[i], path);
          out.push_back(list[i].get<double>());
        }
        return out;
      }
      case ParamType::Block: {
        if (v.is_boolean() && v.get<bool>()) return object(p.fields, Json::object(), path + ".");
        if (!v.is_object()) return type_error("a mapping of " + p.name + " settings");
        return object(p.fields, v, path + ".");
      }
      case ParamType::Map: {
        std::vector<std::string> fields;
        for (const auto& f : p.fields) fields.push_back(f.name);
        const std::string block = "a mapping of " + join(fields, ", ");
        if (!v.is_object()) return type_error("a mapping of names to blocks (" + block + ")");
        Json out = Json::object();
        for (auto it = v.begin(); it != v.end(); ++it) {
          const std::string entry = path + "." + it.key();
          if (it->is_null()) {
            out[it.key()] = object(p.fields, Json::object(), entry + ".");
          } else if (!it->is_object()) {
            diags.error(
                where(entry), stage,
                noun + " '" + entry + "' expects " + block + ", got " + describe_value(*it));
          } else {
            out[it.key()] = object(p.fields, *it, entry + ".");
          }
        }
        return out;
      }
      case ParamType::Any:
        return v;
    }
    return v;
  }

  Json object(const std::vector<ParamSpec>& specs, const Json& given, const std::string& prefix) {
    Json out = Json::object();
    std::vector<std::string> names;
    for (const auto& s : specs) names.push_back(s.name);
    for (auto it = given.begin(); it != given.end(); ++it) {
      if (std::find(names.begin(), names.end(), it.key()) == names.end()) {
        std::string full = prefix + it.key();
        std::string hint = did_you_mean(it.key(), names);
        if (hint.empty() && !names.empty()) hint = "; known " + noun + "s: " + join(names, ", ");
        diags.error(where(full, true), stage, "unknown " + noun + " '" + full + "'" + hint);
      }
    }
    for (const auto& s : specs) {
      std::string full = prefix + s.name;
      auto it = given.find(s.name);
      bool given_here = it != given.end() && !it->is_null();
      if (s.type == ParamType::Block) {
        if (given_here && !(it->is_boolean() && !it->get<bool>()))
          out[s.name] = value(s, *it, full);
        else if (!s.block_optional)
          out[s.name] = object(s.fields, Json::object(), full + ".");
        continue;
      }
      if (given_here) {
        out[s.name] = value(s, *it, full);
      } else if (s.required) {
        std::string doc = s.doc.empty() ? "" : " (" + s.doc + ")";
        diags.error(
            stage_loc, stage,
            "missing required " + noun + " '" + full + "': " + param_type_name(s.type) + doc);
      } else if (!s.default_value.is_null()) {
        out[s.name] = s.default_value;
      }
    }
    return out;
  }
};

}  // namespace embedflow::config_detail
