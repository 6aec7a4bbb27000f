using System.ComponentModel.DataAnnotations;
using System.Reflection;
using Microsoft.Extensions.Configuration;

namespace Actors.Xmpp.PluginHost.Options;

/// <summary>A plugin's options are invalid: the plugin does not load (a reload leaves the previous version serving).</summary>
internal sealed class InvalidPluginOptionsException(string message) : Exception(message);

/// <summary>
/// Binds a plugin's options from its section Xmpp:Plugins:&lt;id&gt; and validates them with
/// System.ComponentModel.DataAnnotations: every readable property's <see cref="ValidationAttribute"/>s (a failed
/// [Required] skips the property's other attributes), the class's own attributes, then
/// <see cref="IValidatableObject.Validate"/> when the attributes passed, as Validator.TryValidateObject does.
/// It calls the attributes itself rather than through Validator because Validator keeps every validated type in a
/// static Dictionary&lt;Type, …&gt; (ValidationAttributeStore), which would keep the plugin's load context alive forever.
/// </summary>
internal static class PluginOptions
{
    public static T Bind<T>(IConfigurationSection section) where T : class, new()
    {
        var options = new T();
        try
        {
            section.Bind(options);
        }
        catch (InvalidOperationException ex) // a value that does not convert: the binder's message names the key
        {
            throw new InvalidPluginOptionsException("invalid options: " + ex.Message);
        }
        var errors = Validate(options, section.Path);
        if (errors.Count > 0) throw new InvalidPluginOptionsException("invalid options: " + string.Join("; ", errors));
        return options;
    }

    /// <summary>"key: reason" for every problem (keys are configuration paths, e.g. Xmpp:Plugins:ping:IdleSeconds).</summary>
    public static List<string> Validate(object options, string path)
    {
        var errors = new List<string>();
        var type = options.GetType();
        foreach (var property in type.GetProperties(BindingFlags.Public | BindingFlags.Instance))
        {
            if (!property.CanRead || property.GetIndexParameters().Length > 0) continue;
            var attributes = property.GetCustomAttributes<ValidationAttribute>(inherit: true).ToList();
            if (attributes.Count == 0) continue;
            var value = property.GetValue(options);
            var context = new ValidationContext(options) { MemberName = property.Name, DisplayName = property.Name };
            var required = attributes.OfType<RequiredAttribute>().FirstOrDefault();
            if (required is not null && required.GetValidationResult(value, context) is { } missing)
            {
                errors.Add($"{path}:{property.Name}: {missing.ErrorMessage}");
                continue;
            }
            foreach (var attribute in attributes)
            {
                if (attribute is RequiredAttribute) continue;
                if (attribute.GetValidationResult(value, context) is { } failed) errors.Add($"{path}:{property.Name}: {failed.ErrorMessage}");
            }
        }
        var typeContext = new ValidationContext(options) { DisplayName = type.Name };
        foreach (var attribute in type.GetCustomAttributes<ValidationAttribute>(inherit: true))
            if (attribute.GetValidationResult(options, typeContext) is { } failed) errors.Add($"{path}: {failed.ErrorMessage}");
        if (errors.Count == 0 && options is IValidatableObject validatable)
        {
            foreach (var result in validatable.Validate(typeContext))
            {
                if (result == ValidationResult.Success || result is null) continue;
                var members = result.MemberNames.Where(m => !string.IsNullOrEmpty(m)).ToList();
                var where = members.Count == 0 ? path : string.Join(", ", members.Select(m => path + ":" + m));
                errors.Add($"{where}: {result.ErrorMessage}");
            }
        }
        return errors;
    }
}
